"""Power-sum sketches decide exactly whether two contact sets differ by fewer than k.

The reference is the exact symmetric difference of the sets themselves.
"""

from __future__ import annotations

from hashlib import md5

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshkit.disclosure import Q, Sketch, contact_hash, degrees, sketch_of, small_difference

SECRET = "sketch-secret-for-tests"
ids = st.text("0123456789abcdef-", min_size=1, max_size=12)


def test_the_hash_is_the_documented_md5_prefix_mod_q() -> None:
    digest = md5(b"s3cret" + b"contact-1").hexdigest()
    assert contact_hash("s3cret", "contact-1") == int(digest[:8], 16) % (2**31 - 1)
    assert Q == 2**31 - 1 and degrees(5) == 6 and degrees(1) == 2


@st.composite
def pairs(draw: st.DrawFn, small: bool) -> tuple[set[str], set[str], int]:
    k = draw(st.integers(1, 8))
    common = draw(st.sets(ids, max_size=30))
    if small and k == 1:
        k = 2
    size = draw(st.integers(1, k - 1)) if small else draw(st.integers(k, k + 12))
    extra = draw(st.lists(st.text("xyz", min_size=14, max_size=20), min_size=size, unique=True))
    only_a = draw(st.integers(0, size))
    a = common | set(extra[:only_a])
    b = common | set(extra[only_a:size])
    return a, b, k


@settings(max_examples=300, deadline=None)
@given(pairs(small=True))
def test_a_difference_below_k_is_always_seen(case: tuple[set[str], set[str], int]) -> None:
    a, b, k = case
    assert 0 < len(a ^ b) < k
    assert small_difference(sketch_of(SECRET, a, k), sketch_of(SECRET, b, k), k)
    assert small_difference(sketch_of(SECRET, b, k), sketch_of(SECRET, a, k), k)


@settings(max_examples=300, deadline=None)
@given(pairs(small=False))
def test_a_difference_of_k_or_more_is_not_flagged(case: tuple[set[str], set[str], int]) -> None:
    a, b, k = case
    assert len(a ^ b) >= k
    assert not small_difference(sketch_of(SECRET, a, k), sketch_of(SECRET, b, k), k)


@settings(max_examples=100, deadline=None)
@given(st.sets(ids, max_size=40), st.integers(1, 8))
def test_equal_sets_are_not_a_difference(a: set[str], k: int) -> None:
    assert not small_difference(sketch_of(SECRET, a, k), sketch_of(SECRET, set(a), k), k)


@settings(max_examples=400, deadline=None)
@given(st.frozensets(st.integers(0, 11)), st.frozensets(st.integers(0, 11)), st.integers(1, 7))
def test_the_sketch_agrees_with_exact_sets_on_a_small_universe(
    a: frozenset[int], b: frozenset[int], k: int
) -> None:
    expected = 0 < len(a ^ b) < k
    sa, sb = sketch_of(SECRET, map(str, a), k), sketch_of(SECRET, map(str, b), k)
    assert small_difference(sa, sb, k) == expected


@settings(max_examples=100, deadline=None)
@given(st.sets(ids, min_size=2, max_size=30), st.data())
def test_sketches_add_and_subtract_as_disjoint_sets_do(a: set[str], data: st.DataObject) -> None:
    part = data.draw(st.sets(st.sampled_from(sorted(a))))
    rest = a - part
    whole = sketch_of(SECRET, a, 4)
    assert sketch_of(SECRET, part, 4) + sketch_of(SECRET, rest, 4) == whole
    assert whole - sketch_of(SECRET, part, 4) == sketch_of(SECRET, rest, 4)
    assert Sketch.from_json(whole.to_json()) == whole


def test_a_sketch_made_for_a_smaller_k_sees_what_its_sums_allow() -> None:
    base = {f"c{i}" for i in range(20)}
    old_a, old_b = sketch_of(SECRET, base, 3), sketch_of(SECRET, base - {"c1", "c2"}, 3)
    assert len(old_a.sums) == 4  # k was 3: it sees differences of up to 2 contacts
    assert small_difference(old_a, old_b, 8)
    far = sketch_of(SECRET, base - {"c1", "c2", "c3", "c4"}, 3)
    assert not small_difference(old_a, far, 8)  # 4 > len(sums) - 2: documented blind spot
    assert small_difference(sketch_of(SECRET, base, 8), sketch_of(SECRET, base - {"c1"}, 8), 8)


def test_stored_sketches_are_checked() -> None:
    with pytest.raises(ValueError):
        Sketch.from_json([])
    with pytest.raises(ValueError):
        Sketch.from_json([3, Q])
    with pytest.raises(ValueError):
        Sketch.from_json([3, -1])
