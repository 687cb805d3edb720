"""The query auditor refuses differencing attacks, directly and through two groupings."""

from __future__ import annotations

from collections import Counter
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshkit.disclosure import (
    Fingerprint,
    Row,
    Rules,
    Sketch,
    Statistic,
    audit,
    fingerprints,
    protect,
    sketch_of,
)
from meshkit.errors import PermissionDenied

SECRET = "audit-secret-for-tests"
K = 5
SECTOR_X = [f"3f1c9a2e-0000-4000-8000-{i:012d}" for i in range(20)]  # contact ids, uuid-like
REGION_Y = SECTOR_X[:9]
OTHER_REGIONS = SECTOR_X[9:]


def total(
    contacts: list[str], query: str, measure: str = "apprenticeship_tax"
) -> list[Fingerprint]:
    """The fingerprints of a protected one-cell answer: the sum over `contacts`."""
    rows = [
        Row(c, ("sciences", "lettres", "droit")[i % 3], (), 100 + i) for i, c in enumerate(contacts)
    ]
    table = protect(rows, Statistic.SUM, Rules(k=K), dimensions=0, sketch_secret=SECRET)
    assert table.cell(()).published
    return fingerprints(table, measure=measure, query=query)


def test_a_total_with_and_without_one_contact_is_refused() -> None:
    history = total(SECTOR_X, "sector = services")
    refusal = audit(history, total(SECTOR_X[1:], "sector = services, created before May"), K)
    assert refusal is not None
    assert "sector = services" in refusal.message
    assert all(c not in refusal.message for c in SECTOR_X)
    assert isinstance(refusal.error(), PermissionDenied)
    # nor by adding one: the attacker may ask the smaller total first
    assert audit(total(SECTOR_X[1:], "small"), total(SECTOR_X, "all"), K) is not None


def test_the_same_question_again_and_a_question_about_k_more_contacts_are_answered() -> None:
    history = total(SECTOR_X, "sector = services")
    assert audit(history, total(SECTOR_X, "sector = services"), K) is None
    assert audit(history, total(SECTOR_X[K:], "sector = services, created before May"), K) is None
    # another measure is not subtracted from this one
    assert audit(history, total(SECTOR_X[1:], "donations", measure="donation"), K) is None


def test_a_difference_through_two_overlapping_groupings_is_refused() -> None:
    """sector=X earlier; then sector=X region=Y; then sector=X region≠Y without one contact."""
    history = total(SECTOR_X, "sector = services")
    history += total(REGION_Y, "sector = services, region = Bretagne")
    assert audit(history, total(OTHER_REGIONS, "sector = services, region ≠ Bretagne"), K) is None
    attack = total(OTHER_REGIONS[1:], "sector = services, region ≠ Bretagne, since 2020")
    refusal = audit(history, attack, K)
    assert refusal is not None
    assert "sector = services" in refusal.message


def test_the_whole_without_one_contact_after_its_two_parts_is_refused() -> None:
    history = total(REGION_Y, "region = Bretagne") + total(OTHER_REGIONS, "region ≠ Bretagne")
    assert audit(history, total(SECTOR_X, "all"), K) is None  # the sum of both: nothing new
    assert audit(history, total(SECTOR_X[:-1], "all but the newest"), K) is not None


def test_the_cells_of_one_new_grouping_can_rebuild_an_earlier_total_minus_one() -> None:
    history = total(SECTOR_X, "sector = services")
    rows = [
        Row(c, ("sciences", "lettres")[i % 2], ("Bretagne" if c in REGION_Y else "other",), 7)
        for i, c in enumerate(SECTOR_X[1:])
    ]
    table = protect(rows, Statistic.SUM, Rules(k=K, p=100), margins=False, sketch_secret=SECRET)
    assert all(c.published for c in table.cells)
    answer = fingerprints(table, measure="apprenticeship_tax", query="by region")
    assert audit(history, answer, K) is not None


def test_fingerprints_keep_only_keyed_sketches_of_published_cells_and_survive_storage() -> None:
    rows = [Row(c, ("sciences", "lettres")[i % 2], ("a",), 1) for i, c in enumerate(SECTOR_X)]
    rows += [Row("lonely", "droit", ("b",), 1)]
    table = protect(rows, Statistic.COUNT, Rules(k=K), margins=False, sketch_secret=SECRET)
    (only,) = fingerprints(table, measure="m", query="q")
    assert only.sketch == sketch_of(SECRET, SECTOR_X, K)
    assert len(only.sketch.sums) == K + 1  # whatever the number of contacts
    assert sketch_of("another secret", SECTOR_X, K).sums != only.sketch.sums
    stored = only.sketch.to_json()
    assert all(isinstance(v, int) for v in stored) and stored[0] == len(SECTOR_X)
    assert all(c not in repr(stored) for c in SECTOR_X)
    assert Sketch.from_json(stored) == only.sketch
    # a table without sketches cannot be audited: a cell the auditor does not see is refused
    bare = protect(rows, Statistic.COUNT, Rules(k=K), margins=False)
    with pytest.raises(ValueError):
        fingerprints(bare, measure="m", query="q")


# --- against a brute-force reference ---------------------------------------------------------


def reference(earlier: list[frozenset[int]], new: list[frozenset[int]], k: int) -> bool:
    """Refuse iff some earlier/new pair, or A + B against C mixing old and new, differs by
    between 1 and k-1 contacts. A + B is a multiset: where A and B overlap,
    A + B - (A ∪ B) gives the overlap's total (inclusion-exclusion), an attack too."""
    for n in new:
        for e in earlier:
            if 0 < len(n ^ e) < k:
                return True
    pool = [(s, True) for s in earlier] + [(s, False) for s in new]
    for (a, ea), (b, eb), (c, ec) in permutations(pool, 3):
        if (ea or eb or ec) and not (ea and eb and ec):
            both, whole = Counter(a) + Counter(b), Counter(c)
            if 0 < sum(((both - whole) + (whole - both)).values()) < k:
                return True
    return False


sets = st.frozensets(st.integers(0, 9), max_size=10)


@settings(max_examples=300, deadline=None)
@given(st.lists(sets, max_size=4), st.lists(sets, min_size=1, max_size=3), st.integers(1, 4))
def test_the_auditor_refuses_exactly_what_the_brute_force_reference_refuses(
    earlier: list[frozenset[int]], new: list[frozenset[int]], k: int
) -> None:
    def prints(group: list[frozenset[int]], query: str) -> list[Fingerprint]:
        return [Fingerprint("m", query, sketch_of(SECRET, map(str, s), k)) for s in group]

    refused = audit(prints(earlier, "earlier"), prints(new, "new"), k)
    assert (refused is not None) == reference(earlier, new, k)
    if refused:
        assert refused.earlier_query == "earlier"


def test_two_overlapping_parts_against_their_union_give_the_overlap_and_are_refused() -> None:
    """sector=X and region=Y overlap in two contacts; X ∪ Y then gives their total."""
    x, y = SECTOR_X[:12], SECTOR_X[10:]
    history = total(x, "sector = services") + total(y, "region = Bretagne")
    refusal = audit(history, total(SECTOR_X, "sector = services or region = Bretagne"), K)
    assert refusal is not None
    apart = SECTOR_X[:8] + [f"other-{i}" for i in range(12)]  # overlap of 8: not small
    assert audit(total(SECTOR_X[:8] + SECTOR_X[8:], "all"), total(apart, "other"), K) is None
