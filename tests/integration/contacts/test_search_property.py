"""SearchContacts against a naive oracle: for random policies, viewers and contacts, the
SQL-backed search returns exactly the contacts one of whose readable values matches.

The oracle reads every value of every contact in Python and asks `may_read`
value by value; the search asks the database with the read policy translated
by `read_scope`. Runs on SQLite in-process (many examples), and on PostgreSQL
for a few (the production backend: numeric and collation semantics).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from meshkit.db import Database, make_engine
from meshkit.errors import InvalidArgument, PermissionDenied
from meshkit.identity import Principal
from services.contacts import repository, service
from services.contacts.models import (
    AttributeDefinitionRow,
    Base,
    ComponentRow,
    ContactRow,
    FieldPolicyRow,
    LevelRow,
    MembershipRow,
    OrgServiceRow,
    SensitiveReadRow,
    ValueRow,
)
from services.contacts.policy import (
    Audience,
    Grant,
    Kind,
    Viewer,
    may_read,
    read_scope,
)
from services.contacts.validation import NOT_FILTERABLE, RawFilter
from tests.support.stores import fresh_postgres

COMPONENTS = ("aa", "bb", "cc")
LEVELS = ("agent", "manager", "director")
# field -> type; attributes are held by their component only
FIELDS = {
    "first_name": "text",
    "aa.budget": "number",
    "aa.since": "date",
    "bb.score": "number",
}
TEXTS = ("Ada", "Bob")
NUMBERS = ("-1.5", "2", "10")
DATES = ("2024-01-31", "2024-02-01", "2025-12-31")


def _pool(field: str) -> tuple[str, ...]:
    return {"text": TEXTS, "number": NUMBERS, "date": DATES}[FIELDS[field]]


grants = st.builds(
    Grant,
    st.sampled_from([*Audience, Audience.MEMBERS, Audience.GROUPING]),
    st.frozensets(st.sampled_from(COMPONENTS), max_size=2),
    st.sampled_from([None, None, "s1"]),
    st.sampled_from([None, None, *LEVELS]),
    st.sampled_from([None, None, None, "u1"]),
)
# Most fields get a policy, most policies let someone read: refusals stay a minority.
policies = st.dictionaries(
    st.sampled_from(list(FIELDS)), st.lists(grants, max_size=3).map(tuple), max_size=4
) | st.fixed_dictionaries({f: st.lists(grants, min_size=1, max_size=3).map(tuple) for f in FIELDS})
viewers = st.builds(
    Viewer,
    st.sampled_from(["u1", "u2"]),
    st.sampled_from([*COMPONENTS, "aa", None]),
    st.sampled_from([None, "s1", "s2"]),
    st.sampled_from([None, *LEVELS]),
).map(  # a service exists only inside a component: the organisation refuses anything else
    lambda v: v if v.component else Viewer(v.subject, None, None, v.level)
)


@st.composite
def contacts(draw: st.DrawFn) -> dict[str, object]:
    members = draw(st.frozensets(st.sampled_from(COMPONENTS), min_size=1))
    values = []
    for field in FIELDS:
        holder = field.split(".")[0] if "." in field else None
        for owner in sorted(members):
            if holder is not None and owner != holder:
                continue
            if draw(st.integers(0, 3)):
                values.append((field, owner, draw(st.sampled_from(_pool(field)))))
    return {
        "kind": draw(st.sampled_from(list(Kind))),
        "members": members,
        "values": values,
        "age_days": draw(st.integers(0, 3)),
    }


@st.composite
def filters(draw: st.DrawFn) -> RawFilter:
    field = draw(st.sampled_from([*FIELDS, *FIELDS, "aa.unknown", "display_name"]))
    pool = _pool(field) if field in FIELDS else TEXTS
    if field in FIELDS and FIELDS[field] != "text" and draw(st.booleans()):
        low = draw(st.sampled_from(("", *pool)))
        high = draw(st.sampled_from(("", *pool)))
        if not low and not high:
            high = pool[-1]
        return RawFilter(field, ranged=True, min=low, max=high)
    return RawFilter(field, equals=draw(st.sampled_from(pool)))


@dataclass
class Case:
    policies: dict[str, tuple[Grant, ...]]
    viewer: Viewer
    contacts: list[dict[str, object]]
    filters: list[RawFilter]
    kind: Kind | None
    since_days: int | None
    member_of: str


cases = st.builds(
    Case,
    policies,
    viewers,
    st.lists(contacts(), min_size=1, max_size=6),
    st.lists(filters(), min_size=1, max_size=2) | st.just([]),
    st.sampled_from([None, *Kind]),
    st.sampled_from([None, 1, 2]),
    st.sampled_from(COMPONENTS),
)


def _matches(field: str, value: str, raw: RawFilter) -> bool:
    """The oracle's comparison: numbers by value, dates as ISO text, texts exactly."""
    if FIELDS[field] == "number":
        number = Decimal(value)
        if not raw.ranged:
            return number == Decimal(raw.equals or "")
        return (not raw.min or number >= Decimal(raw.min)) and (
            not raw.max or number <= Decimal(raw.max)
        )
    if not raw.ranged:
        return value == raw.equals
    return (not raw.min or value >= raw.min) and (not raw.max or value <= raw.max)


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _load(db: Database, case: Case) -> list[str]:
    """Empties the database, writes the case's world; the contact ids in creation order."""
    with db.transaction() as session:
        for table in (SensitiveReadRow, ValueRow, MembershipRow, ContactRow, FieldPolicyRow):
            session.execute(delete(table))
        for table in (AttributeDefinitionRow, LevelRow, OrgServiceRow, ComponentRow):
            session.execute(delete(table))
    with db.transaction() as session:
        session.add_all(ComponentRow(id=c, name=c) for c in COMPONENTS)
        session.add_all(LevelRow(rank=i, id=level) for i, level in enumerate(LEVELS))
        session.flush()
        # The organisation knows every service a viewer may name.
        session.add_all(
            OrgServiceRow(component_id=c, id=s, name=s) for c in COMPONENTS for s in ("s1", "s2")
        )
        for field, kind in FIELDS.items():
            if "." in field:
                owner, key = field.split(".")
                session.add(AttributeDefinitionRow(component_id=owner, key=key, type=kind))
        for field, read in case.policies.items():
            session.add(
                FieldPolicyRow(
                    field=field,
                    read=repository.stored_grants(read),
                    write=[],
                    updated_by="test",
                )
            )
        ids = []
        for item in case.contacts:
            contact_id = str(uuid.uuid4())
            ids.append(contact_id)
            changed = NOW - timedelta(days=item["age_days"])  # type: ignore[operator]
            session.add(ContactRow(id=contact_id, kind=item["kind"].value, updated_at=changed))  # type: ignore[attr-defined]
            session.flush()
            for member in item["members"]:  # type: ignore[attr-defined]
                session.add(MembershipRow(contact_id=contact_id, component_id=member))
            for field, owner, value in item["values"]:  # type: ignore[attr-defined]
                number = Decimal(value) if FIELDS[field] == "number" else None
                session.add(
                    ValueRow(
                        contact_id=contact_id,
                        field=field,
                        owner_component=owner,
                        value=value,
                        number_value=number,
                        updated_by="test",
                    )
                )
    return ids


def _expected(case: Case, ids: list[str], listed: str) -> list[str]:
    rules = repository.policy.Rules(
        {f: repository.policy.FieldPolicy(f, g) for f, g in case.policies.items()}, LEVELS
    )
    found = []
    for contact_id, item in zip(ids, case.contacts, strict=True):
        members = item["members"]
        if listed not in members:  # type: ignore[operator]
            continue
        if case.kind is not None and item["kind"] is not case.kind:
            continue
        if case.since_days is not None and item["age_days"] > case.since_days:  # type: ignore[operator]
            continue
        if all(
            any(
                field == raw.field
                and may_read(rules, case.viewer, field, owner, members)  # type: ignore[arg-type]
                and _matches(field, value, raw)
                for field, owner, value in item["values"]  # type: ignore[attr-defined]
            )
            for raw in case.filters
        ):
            found.append(contact_id)
    return sorted(found)


def _search_all(db: Database, case: Case) -> tuple[str, list[str]]:
    """Every page of the search, two contacts a page; the listed component and the ids."""
    viewer = case.viewer
    roles = frozenset({"viewer"} | ({"admin"} if viewer.component is None else set()))
    principal = Principal(viewer.subject, viewer.component, viewer.service, viewer.level, roles)
    listed = viewer.component or case.member_of
    since = (NOW - timedelta(days=case.since_days)).isoformat() if case.since_days else ""
    token, found = "", []
    while True:
        page = service.search_contacts(
            db, principal, case.member_of, case.kind, since, case.filters, 2, token
        )
        found += [shown.view.id for shown in page.contacts]
        token = page.next_page_token
        if not token:
            return listed, found


def check(db: Database, case: Case) -> None:
    ids = _load(db, case)
    rules = repository.policy.Rules(
        {f: repository.policy.FieldPolicy(f, g) for f, g in case.policies.items()}, LEVELS
    )
    refused = [
        i
        for i, raw in enumerate(case.filters)
        if raw.field not in FIELDS or read_scope(rules, case.viewer, raw.field).nothing
    ]
    if case.viewer.component is not None and case.member_of != case.viewer.component:
        case.member_of = case.viewer.component
    try:
        listed, found = _search_all(db, case)
    except InvalidArgument as error:
        assert refused, error.violations
        assert sorted(v.field for v in error.violations) == sorted(
            f"filters[{i}].field" for i in refused
        )
        assert {v.description for v in error.violations} == {NOT_FILTERABLE}
        event("refused")
        return
    except PermissionDenied:
        raise
    assert not refused
    expected = _expected(case, ids, listed)
    event(f"filters={len(case.filters)} found={min(len(expected), 2)}")
    assert found == expected
    assert _sql_alone(db, case, listed) == expected  # the SQL itself, without the re-check


def _sql_alone(db: Database, case: Case, listed: str) -> list[str]:
    """What the SQL of the search selects, before the service decides again in Python."""
    since = (NOW - timedelta(days=case.since_days)).isoformat() if case.since_days else ""
    with db.transaction() as session:
        rules = repository.load_rules(session)
        query, scopes = service._checked_query(
            session, rules, case.viewer, case.kind, since, case.filters
        )
        return repository.search_ids(session, listed, query, scopes, None, 1000)


@pytest.fixture(scope="module")
def sqlite_db() -> Iterator[Database]:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    yield Database(engine)
    engine.dispose()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases)
def test_search_is_the_naive_filter_over_readable_values_sqlite(
    sqlite_db: Database, case: Case
) -> None:
    check(sqlite_db, case)


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[Database]:
    with fresh_postgres("contacts_search") as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield Database(engine)
        engine.dispose()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases)
def test_search_is_the_naive_filter_over_readable_values_postgres(
    postgres_db: Database, case: Case
) -> None:
    check(postgres_db, case)


def test_read_scope_agrees_with_may_read() -> None:
    """read_scope(...).admits is may_read for every owner and member set (pure)."""

    @settings(max_examples=500, deadline=None)
    @given(
        policies, viewers, st.sampled_from(list(FIELDS)), st.frozensets(st.sampled_from(COMPONENTS))
    )
    def agree(policies, viewer, field, members) -> None:  # type: ignore[no-untyped-def]
        rules = repository.policy.Rules(
            {f: repository.policy.FieldPolicy(f, g) for f, g in policies.items()}, LEVELS
        )
        scope = read_scope(rules, viewer, field)
        holder = field.split(".")[0] if "." in field else None
        for owner in COMPONENTS:
            if holder is not None and owner != holder:
                continue  # only its component holds an attribute
            assert scope.admits(owner, members) == may_read(rules, viewer, field, owner, members)
        if scope.nothing:
            assert not any(
                may_read(rules, viewer, field, owner, frozenset(COMPONENTS))
                for owner in ([holder] if holder else COMPONENTS)
            )

    agree()


def test_numbers_compare_by_value_and_dates_as_iso_text(sqlite_db: Database) -> None:
    """10 is above 2 (it is not as text), and a date range includes both bounds."""
    grouping = (Grant(Audience.GROUPING),)
    world = [
        {"kind": Kind.PERSON, "members": frozenset({"aa"}), "values": values, "age_days": 0}
        for values in (
            [("aa.budget", "aa", "10"), ("aa.since", "aa", "2024-01-31")],
            [("aa.budget", "aa", "2"), ("aa.since", "aa", "2024-02-01")],
            [("aa.budget", "aa", "-1.5"), ("aa.since", "aa", "2025-12-31")],
        )
    ]
    viewer = Viewer("u1", "aa")
    for raw, wanted in (
        (RawFilter("aa.budget", ranged=True, min="2"), [0, 1]),
        (RawFilter("aa.budget", ranged=True, max="2.0"), [1, 2]),
        (RawFilter("aa.budget", equals="10.00"), [0]),
        (RawFilter("aa.since", ranged=True, min="2024-01-31", max="2024-02-01"), [0, 1]),
    ):
        case = Case({"aa.budget": grouping}, viewer, world, [raw], None, None, "aa")
        ids = _load(sqlite_db, case)
        listed, found = _search_all(sqlite_db, case)
        assert found == sorted(ids[i] for i in wanted), raw
        assert _sql_alone(sqlite_db, case, listed) == found
