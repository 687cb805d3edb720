"""The SQL of the contacts service: reads rows into policy objects, writes rows.

Each function works inside the caller's session, so a use case stays one
transaction. Reads of several contacts are batched: a fixed number of queries
whatever the number of contacts.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from meshkit.fields import FieldType
from services.contacts import policy
from services.contacts.models import (
    AddressRow,
    AttributeDefinitionRow,
    ChangeRow,
    ComponentRow,
    ContactRow,
    FieldPolicyChangeRow,
    FieldPolicyRow,
    ImportBatchRow,
    LevelRow,
    MembershipRow,
    OrganisationVersionRow,
    OrgServiceRow,
    PersonRow,
    RedirectRow,
    SensitiveReadRow,
    TombstoneRow,
    ValueRow,
    utcnow,
)
from services.contacts.policy import Audience, FieldPolicy, Grant
from services.contacts.search import Condition, Query
from services.contacts.validation import AttributeSpec, Catalogue, Clean


@dataclass(frozen=True)
class SensitiveRead:
    """One protected value shown to one caller, through one route."""

    subject: str
    component: str
    contact_id: str
    field: str
    owner_component: str
    route: str


# --- Organisation ----------------------------------------------------------------------


def component_exists(session: Session, component_id: str) -> bool:
    """True when the component is registered."""
    return session.get(ComponentRow, component_id) is not None


def add_component(session: Session, component_id: str, name: str) -> bool:
    """Registers a component; False when the id is already taken."""
    statement = (
        insert_on_conflict(session, ComponentRow.__table__)
        .values(id=component_id, name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(ComponentRow.id)
    )
    return session.execute(statement).first() is not None


def components(
    session: Session, after: str | None = None, limit: int | None = None
) -> list[tuple[str, str]]:
    """Registered components as (id, name), by id: those after `after`, at most `limit`."""
    query = select(ComponentRow.id, ComponentRow.name).order_by(ComponentRow.id)
    if after is not None:
        query = query.where(ComponentRow.id > after)
    rows = session.execute(query.limit(limit))
    return [(row.id, row.name) for row in rows]


# --- Version of the tree and the field policies ------------------------------------------


# The statements of every call (the token check, a contact read) are built once, and run
# on the session's connection: building, keying and ORM-executing a statement per call
# cost contacts more CPU than PostgreSQL spent running it.
_VERSION = select(OrganisationVersionRow.version).where(OrganisationVersionRow.id == 1)


def organisation_version(session: Session) -> int:
    """The change counter of the tree and the field policies (one primary-key read).

    Triggers (migration 0003) bump it in the transaction of every write to components,
    org_services, org_levels, people and field_policies, whoever writes.
    """
    return int(session.connection().execute(_VERSION).scalar_one())


# --- Rules and catalogue ---------------------------------------------------------------


def load_rules(session: Session) -> policy.Rules:
    """The field policies in force and the levels, read fresh (two small queries)."""
    policies = {
        row.field: FieldPolicy(
            row.field, grants_of(row.read), grants_of(row.write), grants_of(row.aggregate or [])
        )
        for row in session.scalars(select(FieldPolicyRow))
    }
    levels = tuple(session.scalars(select(LevelRow.id).order_by(LevelRow.rank)))
    return policy.Rules(policies, levels)


def grants_of(stored: list[dict[str, Any]]) -> tuple[Grant, ...]:
    """Grants as stored in JSON; one this version cannot read grants nothing."""
    grants = []
    for item in stored:
        try:
            audience = Audience(item["audience"])
        except (KeyError, ValueError, TypeError):
            continue
        grants.append(
            Grant(
                audience,
                frozenset(item.get("components") or ()),
                item.get("service") or None,
                item.get("min_level") or None,
                item.get("subject") or None,
            )
        )
    return tuple(grants)


def stored_grants(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    """Grants as JSON, only the conditions that are set."""
    stored = []
    for grant in grants:
        item: dict[str, Any] = {"audience": grant.audience.value}
        if grant.components:
            item["components"] = sorted(grant.components)
        for name in ("service", "min_level", "subject"):
            if getattr(grant, name):
                item[name] = getattr(grant, name)
        stored.append(item)
    return stored


def load_catalogue(session: Session) -> Catalogue:
    """Every declared attribute (one query)."""
    specs = [
        AttributeSpec(
            row.component_id,
            row.key,
            FieldType(row.type),
            tuple(row.choices or ()),
            row.label_fr,
            row.label_en,
        )
        for row in session.scalars(select(AttributeDefinitionRow))
    ]
    return Catalogue({spec.field: spec for spec in specs})


# --- Contacts --------------------------------------------------------------------------


def contact_for_addresses(session: Session, addresses: Collection[str]) -> str | None:
    """The contact one of these normalised addresses belongs to, if any."""
    if not addresses:
        return None
    return session.scalar(
        select(AddressRow.contact_id)
        .where(AddressRow.address.in_(sorted(addresses)))
        .order_by(AddressRow.address)
        .limit(1)
    )


def insert_contact(session: Session, kind: policy.Kind) -> str:
    """A new contact row; its id."""
    contact_id = str(uuid.uuid4())
    now = utcnow()
    session.execute(
        insert(ContactRow).values(id=contact_id, kind=kind.value, created_at=now, updated_at=now)
    )
    return contact_id


def claim_addresses(session: Session, contact_id: str, addresses: Collection[str]) -> str | None:
    """Binds the addresses to the contact; the other contact one already belongs to, if any.

    The primary key on the address decides between concurrent creators: the
    loser's insert does nothing and learns the winner's contact.
    """
    for address in sorted(addresses):
        statement = (
            insert_on_conflict(session, AddressRow.__table__)
            .values(address=address, contact_id=contact_id)
            .on_conflict_do_nothing(index_elements=["address"])
        )
        session.execute(statement)
        holder = session.scalar(select(AddressRow.contact_id).where(AddressRow.address == address))
        if holder != contact_id:
            return holder
    return None


def release_addresses(session: Session, contact_id: str, addresses: Collection[str]) -> None:
    """Unbinds addresses no value of the contact holds any more."""
    if addresses:
        session.execute(
            delete(AddressRow).where(
                AddressRow.contact_id == contact_id, AddressRow.address.in_(list(addresses))
            )
        )


def delete_contact_row(session: Session, contact_id: str) -> None:
    """Removes a contact row that nothing refers to any more."""
    session.execute(delete(ContactRow).where(ContactRow.id == contact_id))


def lock_contact(session: Session, contact_id: str) -> policy.Kind | None:
    """Locks the contact's row for this transaction (PostgreSQL); its kind, None if absent."""
    kind = session.scalar(
        select(ContactRow.kind).where(ContactRow.id == contact_id).with_for_update()
    )
    return policy.Kind(kind) if kind else None


def touch(session: Session, contact_id: str) -> None:
    """Records that the contact changed now (for `updated_since`)."""
    session.execute(
        update(ContactRow).where(ContactRow.id == contact_id).values(updated_at=utcnow())
    )


def put_values(
    session: Session, contact_id: str, owner: str, values: Mapping[str, Clean], subject: str
) -> None:
    """Writes the owner's values of one contact, replacing those it held for the same fields."""
    put_values_bulk(session, {(contact_id, name): c for name, c in values.items()}, owner, subject)


def delete_values(
    session: Session, contact_id: str, owner: str, fields: Collection[str] | None = None
) -> None:
    """Removes the owner's values of these fields (every field when None)."""
    statement = delete(ValueRow).where(
        ValueRow.contact_id == contact_id, ValueRow.owner_component == owner
    )
    if fields is not None:
        statement = statement.where(ValueRow.field.in_(list(fields)))
    session.execute(statement)


def is_member(session: Session, contact_id: str, component_id: str) -> bool:
    return session.get(MembershipRow, (contact_id, component_id)) is not None


def add_membership(session: Session, contact_id: str, component_id: str) -> bool:
    """Makes the component a member of the contact; False when it already was."""
    statement = insert_on_conflict(session, MembershipRow.__table__).on_conflict_do_nothing(
        index_elements=["contact_id", "component_id"]
    )
    result = session.execute(
        statement.values(
            contact_id=contact_id, component_id=component_id, created_at=utcnow()
        ).returning(MembershipRow.contact_id)
    )
    return result.first() is not None


def remove_membership(session: Session, contact_id: str, component_id: str) -> None:
    session.execute(
        delete(MembershipRow).where(
            MembershipRow.contact_id == contact_id, MembershipRow.component_id == component_id
        )
    )


def remove_contact(session: Session, contact_id: str) -> None:
    """Removes the contact with all its rows, leaving only a tombstone of its id."""
    for table in (ValueRow, AddressRow, MembershipRow):
        session.execute(delete(table).where(table.contact_id == contact_id))
    session.execute(delete(ContactRow).where(ContactRow.id == contact_id))
    session.execute(
        insert_on_conflict(session, TombstoneRow.__table__)
        .values(id=contact_id, removed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
    )


def survivors(session: Session, ids: Collection[str]) -> dict[str, str]:
    """For each merged-away id among `ids`, the contact that survived it."""
    if not ids:
        return {}
    rows = session.execute(
        select(RedirectRow.merged_id, RedirectRow.survivor_id).where(
            RedirectRow.merged_id.in_(list(set(ids)))
        )
    )
    return {row.merged_id: row.survivor_id for row in rows}


def existing_ids(session: Session, ids: Collection[str]) -> set[str]:
    """The ids among `ids` that name a contact (one query)."""
    if not ids:
        return set()
    return set(session.scalars(select(ContactRow.id).where(ContactRow.id.in_(list(set(ids))))))


def kinds_and_members(
    session: Session, ids: Collection[str]
) -> tuple[dict[str, policy.Kind], dict[str, set[str]]]:
    """The kind of each of these contacts, and its member components (two queries)."""
    kinds = {
        row.id: policy.Kind(row.kind)
        for row in session.execute(
            select(ContactRow.id, ContactRow.kind).where(_among(session, ContactRow.id, ids))
        )
    }
    members: dict[str, set[str]] = defaultdict(set)
    for contact_id, component_id in session.execute(
        select(MembershipRow.contact_id, MembershipRow.component_id).where(
            _among(session, MembershipRow.contact_id, ids)
        )
    ):
        members[contact_id].add(component_id)
    return kinds, dict(members)


def load_contacts(session: Session, ids: Collection[str]) -> dict[str, policy.Contact]:
    """The contacts with these ids, with members and values, in three queries."""
    if not ids:
        return {}
    wanted = list(set(ids))
    kinds, members = kinds_and_members(session, ids)
    values: dict[str, list[policy.Value]] = defaultdict(list)
    for contact_id, name, owner, value in session.execute(
        select(ValueRow.contact_id, ValueRow.field, ValueRow.owner_component, ValueRow.value).where(
            ValueRow.contact_id.in_(wanted)
        )
    ):
        values[contact_id].append(policy.Value(name, owner, value))
    return {
        contact_id: policy.Contact(
            contact_id,
            kind,
            frozenset(members.get(contact_id, ())),
            tuple(sorted(values[contact_id], key=lambda v: (v.field, v.owner))),
        )
        for contact_id, kind in kinds.items()
    }


@dataclass(frozen=True)
class ContactRead:
    """What one read of a contact needs: the organisation version, and the contact now."""

    version: int
    target: str  # the id asked for, or the survivor it was merged into
    contact: policy.Contact | None  # None: no such contact


_ASKED = bindparam("contact_id", type_=String)
_TARGET = func.coalesce(
    select(RedirectRow.survivor_id).where(RedirectRow.merged_id == _ASKED).scalar_subquery(),
    _ASKED,
)
_NO_TEXT = cast(null(), String)
# One query, two kinds of rows: the head (always one row at least: the counter, the
# target id, the kind when the contact exists, one member per row) and one row per value.
_CONTACT = union_all(
    select(
        literal("member").label("part"),
        OrganisationVersionRow.version,
        _TARGET.label("target"),
        ContactRow.kind,
        MembershipRow.component_id.label("first"),
        _NO_TEXT.label("second"),
        _NO_TEXT.label("value"),
    )
    .select_from(OrganisationVersionRow)
    .outerjoin(ContactRow, ContactRow.id == _TARGET)
    .outerjoin(MembershipRow, MembershipRow.contact_id == ContactRow.id)
    .where(OrganisationVersionRow.id == 1),
    select(
        literal("value"),
        cast(null(), BigInteger),
        ValueRow.contact_id,
        _NO_TEXT,
        ValueRow.field,
        ValueRow.owner_component,
        ValueRow.value,
    ).where(ValueRow.contact_id == _TARGET),
)


def read_contact(session: Session, contact_id: str) -> ContactRead:
    """The organisation version and the contact `contact_id` names now, in one query.

    It reads the counter, follows a merge redirect, and reads the kind, the members
    and the values (each round trip cost the read more than its rows).
    """
    rows = session.connection().execute(_CONTACT, {"contact_id": contact_id}).all()
    head = [row for row in rows if row.part == "member"]
    first = head[0]
    if first.kind is None:
        return ContactRead(first.version, first.target, None)
    values = [policy.Value(r.first, r.second, r.value) for r in rows if r.part == "value"]
    contact = policy.Contact(
        first.target,
        policy.Kind(first.kind),
        frozenset(row.first for row in head if row.first is not None),
        tuple(sorted(values, key=lambda v: (v.field, v.owner))),
    )
    return ContactRead(first.version, first.target, contact)


def member_ids(
    session: Session,
    component_id: str,
    after: str | None,
    limit: int,
    kind: policy.Kind | None = None,
    updated_since: datetime | None = None,
) -> list[str]:
    """Ids of the component's contacts, in id order, after `after` (keyset paging)."""
    query = select(MembershipRow.contact_id).where(MembershipRow.component_id == component_id)
    if kind is not None or updated_since is not None:
        query = query.join(ContactRow, ContactRow.id == MembershipRow.contact_id)
    if kind is not None:
        query = query.where(ContactRow.kind == kind.value)
    if updated_since is not None:
        query = query.where(ContactRow.updated_at >= updated_since)
    if after is not None:
        query = query.where(MembershipRow.contact_id > after)
    return list(session.scalars(query.order_by(MembershipRow.contact_id).limit(limit)))


# --- Audit -----------------------------------------------------------------------------


def record_change(
    session: Session,
    contact_id: str,
    action: str,
    subject: str,
    component: str | None,
    fields: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
) -> None:
    """Appends one entry to the contact's change history (field names, never values)."""
    session.execute(
        insert(ChangeRow).values(
            contact_id=contact_id,
            action=action,
            subject=subject,
            component=component,
            fields=sorted(fields),
            detail=detail,
            at=utcnow(),
        )
    )


_INSERT_SENSITIVE_READS = insert(SensitiveReadRow)  # run on a Connection: Core, not ORM


def record_sensitive_reads(session: Session, reads: Iterable[SensitiveRead]) -> None:
    """Appends one audit row per protected value shown, in a single statement."""
    now = utcnow()
    rows = [
        {
            "subject": r.subject,
            "component": r.component,
            "contact_id": r.contact_id,
            "field": r.field,
            "owner_component": r.owner_component,
            "route": r.route,
            "read_at": now,
        }
        for r in reads
    ]
    if rows:  # a Core insert on the connection: the ORM's bulk path costs more than it
        session.connection().execute(_INSERT_SENSITIVE_READS, rows)


def insert_on_conflict(session: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    dialect = session.get_bind().dialect.name
    target: Table = table
    if dialect == "postgresql":
        return postgresql.insert(target)
    return sqlite.insert(target)


# --- Data protection: merge, sensitive reads, export, erasure ---------------------------


@dataclass(frozen=True)
class HeldValue:
    """One stored value with who wrote it and when (the DPO's export)."""

    field: str
    owner: str
    value: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Change:
    """One entry of a contact's change history."""

    contact_id: str
    action: str
    subject: str
    component: str | None
    fields: list[str]
    detail: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class AuditedRead:
    """One stored audit row of a protected value shown."""

    id: int
    subject: str
    component: str
    contact_id: str
    field: str
    route: str
    read_at: datetime


def merged_into(session: Session, survivor_id: str) -> list[str]:
    """The ids merged (directly or along a chain) into this contact, oldest first."""
    rows = session.scalars(
        select(RedirectRow.merged_id)
        .where(RedirectRow.survivor_id == survivor_id)
        .order_by(RedirectRow.merged_at, RedirectRow.merged_id)
    )
    return list(rows)


def held_values(session: Session, contact_id: str) -> list[HeldValue]:
    """Every value of the contact, every owner, with its writer and time."""
    rows = session.execute(
        select(
            ValueRow.field,
            ValueRow.owner_component,
            ValueRow.value,
            ValueRow.updated_at,
            ValueRow.updated_by,
        )
        .where(ValueRow.contact_id == contact_id)
        .order_by(ValueRow.field, ValueRow.owner_component)
    )
    return [HeldValue(*row) for row in rows]


def move_values(
    session: Session, from_id: str, to_id: str, keys: Collection[tuple[str, str]]
) -> None:
    """Moves these (field, owner) values of `from_id` onto `to_id`, replacing its own.

    Writer and time stay those of the moved value: a merge writes no value.
    """
    for name, owner in sorted(keys):
        session.execute(
            delete(ValueRow).where(
                ValueRow.contact_id == to_id,
                ValueRow.field == name,
                ValueRow.owner_component == owner,
            )
        )
        session.execute(
            update(ValueRow)
            .where(
                ValueRow.contact_id == from_id,
                ValueRow.field == name,
                ValueRow.owner_component == owner,
            )
            .values(contact_id=to_id)
        )


def move_memberships(session: Session, from_id: str, to_id: str) -> None:
    """The survivor becomes a member of every component of `from_id`; `from_id` of none."""
    components_of = list(
        session.scalars(
            select(MembershipRow.component_id).where(MembershipRow.contact_id == from_id)
        )
    )
    for component_id in components_of:
        add_membership(session, to_id, component_id)
    session.execute(delete(MembershipRow).where(MembershipRow.contact_id == from_id))


def rebind_all_addresses(
    session: Session, contact_ids: Collection[str], owner_id: str, addresses: Collection[str]
) -> None:
    """The address index of these contacts becomes exactly `addresses`, all on `owner_id`."""
    session.execute(delete(AddressRow).where(AddressRow.contact_id.in_(list(contact_ids))))
    holder = claim_addresses(session, owner_id, addresses)
    if holder is not None:  # every address of both records was just released
        raise RuntimeError("an address of a merged contact is held by a third contact")


def add_redirect(session: Session, merged_id: str, survivor_id: str) -> None:
    """`merged_id` now reads as `survivor_id`, and so does every id merged into it before."""
    session.execute(
        update(RedirectRow)
        .where(RedirectRow.survivor_id == merged_id)
        .values(survivor_id=survivor_id)
    )
    session.execute(
        insert_on_conflict(session, RedirectRow.__table__)
        .values(merged_id=merged_id, survivor_id=survivor_id, merged_at=utcnow())
        .on_conflict_do_nothing(index_elements=["merged_id"])
    )


def changes_of(session: Session, contact_ids: Collection[str]) -> list[Change]:
    """The change history of these ids, oldest first."""
    rows = session.scalars(
        select(ChangeRow).where(ChangeRow.contact_id.in_(list(contact_ids))).order_by(ChangeRow.id)
    )
    return [
        Change(r.contact_id, r.action, r.subject, r.component, list(r.fields or []), r.detail, r.at)
        for r in rows
    ]


def sensitive_reads_of(
    session: Session,
    owner_component: str,
    contact_ids: Collection[str] | None,
    after: int | None,
    limit: int,
) -> list[AuditedRead]:
    """Audit rows of reads of the owner's values, by id (keyset paging after `after`)."""
    query = select(
        SensitiveReadRow.id,
        SensitiveReadRow.subject,
        SensitiveReadRow.component,
        SensitiveReadRow.contact_id,
        SensitiveReadRow.field,
        SensitiveReadRow.route,
        SensitiveReadRow.read_at,
    ).where(SensitiveReadRow.owner_component == owner_component)
    if contact_ids is not None:
        query = query.where(SensitiveReadRow.contact_id.in_(list(contact_ids)))
    if after is not None:
        query = query.where(SensitiveReadRow.id > after)
    rows = session.execute(query.order_by(SensitiveReadRow.id).limit(limit))
    return [AuditedRead(*row) for row in rows]


def erase_contact(session: Session, contact_id: str) -> list[str]:
    """Removes the contact, its values, addresses, memberships and the redirects to it.

    Only tombstones of its id (and of the ids merged into it) remain; the
    change history keeps ids, actions and field names, never a merge's
    discarded values. Returns the merged ids that were forgotten.
    """
    merged = merged_into(session, contact_id)
    everyone = [contact_id, *merged]
    session.execute(delete(RedirectRow).where(RedirectRow.survivor_id == contact_id))
    session.execute(update(ChangeRow).where(ChangeRow.contact_id.in_(everyone)).values(detail=None))
    remove_contact(session, contact_id)
    for merged_id in merged:
        session.execute(
            insert_on_conflict(session, TombstoneRow.__table__)
            .values(id=merged_id, removed_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"])
        )
    return merged


def is_tombstoned(session: Session, contact_id: str) -> bool:
    return session.get(TombstoneRow, contact_id) is not None


def delete_values_of_contact(session: Session, contact_id: str) -> None:
    """Removes every value of the contact, whoever holds it."""
    session.execute(delete(ValueRow).where(ValueRow.contact_id == contact_id))


# --- Search ----------------------------------------------------------------------------


def search_ids(
    session: Session,
    component_id: str,
    query: Query,
    scopes: Mapping[str, policy.ReadScope],
    after: str | None,
    limit: int,
) -> list[str]:
    """Ids of the component's contacts matching `query`, in id order, after `after`.

    Each condition holds when one value of its field matches among those
    `scopes[field]` lets the caller read (policy.read_scope, translated here);
    a field whose scope is nothing matches no contact.
    """
    statement = select(MembershipRow.contact_id).where(MembershipRow.component_id == component_id)
    if query.kind is not None or query.updated_since is not None:
        statement = statement.join(ContactRow, ContactRow.id == MembershipRow.contact_id)
    if query.kind is not None:
        statement = statement.where(ContactRow.kind == query.kind.value)
    if query.updated_since is not None:
        statement = statement.where(ContactRow.updated_at >= query.updated_since)
    text_order = _text_order(session)
    for condition in query.conditions:
        value = aliased(ValueRow)
        readable = _readable(value, scopes[condition.field])
        statement = statement.where(
            exists()
            .where(
                value.contact_id == MembershipRow.contact_id,
                value.field == condition.field,
                _matching(value, condition, text_order),
                readable,
            )
            .correlate(MembershipRow)
        )
    if after is not None:
        statement = statement.where(MembershipRow.contact_id > after)
    return list(session.scalars(statement.order_by(MembershipRow.contact_id).limit(limit)))


def _readable(value: Any, scope: policy.ReadScope) -> ColumnElement[bool]:
    """The read scope of a field as a condition on one value row."""
    if scope.everyone:
        return true()
    allowed: list[ColumnElement[bool]] = []
    if scope.own and scope.component is not None:
        allowed.append(value.owner_component == scope.component)
    if scope.as_member and scope.component is not None:
        member = aliased(MembershipRow)
        allowed.append(
            exists().where(
                member.contact_id == value.contact_id, member.component_id == scope.component
            )
        )
    return or_(*allowed) if allowed else false()


def _matching(value: Any, condition: Condition, text_order: Any) -> ColumnElement[bool]:
    """The condition on one value row: numbers by value, anything else as stored text."""
    number = condition.type is FieldType.NUMBER
    column = value.number_value if number else text_order(value.value)

    def bound(text: str | None) -> Any:
        return condition.number(text) if number else text

    if not condition.is_range:
        return column == bound(condition.equals)  # type: ignore[no-any-return]
    parts = []
    if condition.low is not None:
        parts.append(column >= bound(condition.low))
    if condition.high is not None:
        parts.append(column <= bound(condition.high))
    return and_(*parts)


def _text_order(session: Session) -> Any:
    """Compares text by code point on both backends (dates are ISO text)."""
    if session.get_bind().dialect.name == "postgresql":
        return lambda column: column.collate("C")
    return lambda column: column


# --- Organisation tree, catalogue and field-policy administration (i6-org) ------------------


def org_services(session: Session) -> list[tuple[str, str, str]]:
    """Every service as (component_id, id, name), by component then id."""
    rows = session.execute(
        select(OrgServiceRow.component_id, OrgServiceRow.id, OrgServiceRow.name).order_by(
            OrgServiceRow.component_id, OrgServiceRow.id
        )
    )
    return [(row.component_id, row.id, row.name) for row in rows]


def add_org_service(session: Session, component_id: str, service_id: str, name: str) -> bool:
    """Adds a service inside a component; False when that component already has this id."""
    statement = (
        insert_on_conflict(session, OrgServiceRow.__table__)
        .values(component_id=component_id, id=service_id, name=name)
        .on_conflict_do_nothing(index_elements=["component_id", "id"])
        .returning(OrgServiceRow.id)
    )
    return session.execute(statement).first() is not None


def levels(session: Session) -> tuple[str, ...]:
    """The hierarchy levels, lowest first."""
    return tuple(session.scalars(select(LevelRow.id).order_by(LevelRow.rank)))


def replace_levels(session: Session, ordered: list[str]) -> None:
    """Replaces the levels by `ordered` (lowest first), locking the table for concurrent setters."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE org_levels IN EXCLUSIVE MODE"))
    session.execute(delete(LevelRow))
    if ordered:
        session.execute(insert(LevelRow), [{"rank": i, "id": v} for i, v in enumerate(ordered)])


def people(session: Session, subject: str | None = None) -> list[PersonRow]:
    """Every person of the tree by subject (only `subject`'s row when given)."""
    query = select(PersonRow).order_by(PersonRow.subject)
    if subject is not None:
        query = query.where(PersonRow.subject == subject)
    return list(session.scalars(query))


def put_person(
    session: Session,
    subject: str,
    component_id: str | None,
    service_id: str | None,
    level: str | None,
    roles: list[str],
) -> None:
    """Creates or replaces a person's place in the tree and roles."""
    values = {
        "subject": subject,
        "component_id": component_id,
        "service_id": service_id,
        "level": level,
        "roles": roles,
        "updated_at": utcnow(),
    }
    statement = insert_on_conflict(session, PersonRow.__table__).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["subject"], set_={k: v for k, v in values.items() if k != "subject"}
    )
    session.execute(statement)


def remove_person(session: Session, subject: str) -> bool:
    """Removes a person from the tree; False when there was none."""
    result = session.execute(
        delete(PersonRow).where(PersonRow.subject == subject).returning(PersonRow.subject)
    )
    return result.first() is not None


def attribute_definition(
    session: Session, component_id: str, key: str
) -> AttributeDefinitionRow | None:
    return session.get(AttributeDefinitionRow, (component_id, key))


def put_attribute_definition(session: Session, spec: AttributeSpec) -> None:
    """Creates or replaces a component's attribute declaration."""
    values = {
        "component_id": spec.component_id,
        "key": spec.key,
        "type": spec.type.value,
        "choices": list(spec.choices),
        "label_fr": spec.label_fr,
        "label_en": spec.label_en,
        "created_at": utcnow(),
    }
    statement = insert_on_conflict(session, AttributeDefinitionRow.__table__).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["component_id", "key"],
        set_={k: values[k] for k in ("type", "choices", "label_fr", "label_en")},
    )
    session.execute(statement)


def field_holds_values(session: Session, field: str) -> bool:
    """True when some contact holds a value of `field`."""
    held = session.scalar(select(ValueRow.field).where(ValueRow.field == field).limit(1))
    return held is not None


def field_policy_row(session: Session, field: str, lock: bool = False) -> FieldPolicyRow | None:
    query = select(FieldPolicyRow).where(FieldPolicyRow.field == field)
    return session.scalar(query.with_for_update() if lock else query)


def field_policy_rows(
    session: Session, after: str | None = None, limit: int | None = None
) -> list[FieldPolicyRow]:
    """The field policies by field: those after field `after`, at most `limit`."""
    query = select(FieldPolicyRow).order_by(FieldPolicyRow.field)
    if after is not None:
        query = query.where(FieldPolicyRow.field > after)
    return list(session.scalars(query.limit(limit)))


def put_field_policy(
    session: Session,
    field: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    subject: str,
) -> datetime:
    """Replaces the policy of `field` and appends the change to the history; when it was done."""
    now = utcnow()
    values = {
        "field": field,
        "read": after["read"],
        "write": after["write"],
        "aggregate": after.get("aggregate", []),
        "updated_by": subject,
        "updated_at": now,
    }
    statement = insert_on_conflict(session, FieldPolicyRow.__table__).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["field"],
        set_={k: v for k, v in values.items() if k != "field"},
    )
    session.execute(statement)
    session.execute(
        insert(FieldPolicyChangeRow).values(
            field=field, before=before, after=after, changed_by=subject, changed_at=now
        )
    )
    return now


def field_policy_changes(
    session: Session, field: str | None, before_id: int | None, limit: int
) -> list[FieldPolicyChangeRow]:
    """Policy changes, newest first, with ids below `before_id` (keyset paging)."""
    query = select(FieldPolicyChangeRow)
    if field:
        query = query.where(FieldPolicyChangeRow.field == field)
    if before_id is not None:
        query = query.where(FieldPolicyChangeRow.id < before_id)
    return list(session.scalars(query.order_by(FieldPolicyChangeRow.id.desc()).limit(limit)))


# --- Imports -----------------------------------------------------------------------------
# Statements for one import batch: a fixed number per batch whatever its size. On
# PostgreSQL a batch's keys and rows travel as one array parameter per column (`= ANY`,
# `unnest`), so the statement text stays short: neither SQLAlchemy nor the driver
# renders or parses one placeholder per cell. On SQLite, the portable forms (`IN`
# lists; executemany rendered as multi-row VALUES by SQLAlchemy's "insertmanyvalues").


def _among(session: Session, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    """`column IN values`: on PostgreSQL as `IN (SELECT unnest(one text[] parameter))`.

    A semi-join rather than `= ANY(array)`: once the driver prepares the statement, a
    generic plan cannot hash a parameter array and would compare each row with
    every key.
    """
    wanted = sorted(set(values))
    if session.get_bind().dialect.name == "postgresql":
        keys = cast(literal(_pg_array(wanted), Text), postgresql.ARRAY(Text))
        return column.in_(select(func.unnest(keys)))  # type: ignore[no-any-return]
    return column.in_(wanted)  # type: ignore[no-any-return]


def _pg_array(items: Iterable[object]) -> str:
    """A PostgreSQL array literal of these strings (or numbers; None is NULL).

    Built here rather than by the driver's generic list adaptation, which costs
    several microseconds per element in Python.
    """
    return (
        "{"
        + ",".join(
            "NULL"
            if item is None
            else '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for item in items
        )
        + "}"
    )


def stored_import_batch(
    session: Session, component_id: str, import_id: str, first_line: int
) -> list[dict[str, Any]] | None:
    """The stored report of an applied batch, None when it was never applied."""
    return session.scalar(
        select(ImportBatchRow.report).where(
            ImportBatchRow.component_id == component_id,
            ImportBatchRow.import_id == import_id,
            ImportBatchRow.first_line == first_line,
        )
    )


def address_holders(session: Session, addresses: Collection[str]) -> dict[str, str]:
    """The contact each of these normalised addresses belongs to (one query)."""
    if not addresses:
        return {}
    rows = session.execute(
        select(AddressRow.address, AddressRow.contact_id).where(
            _among(session, AddressRow.address, addresses)
        )
    )
    return {row.address: row.contact_id for row in rows}


def own_contacts_by_value(
    session: Session, component_id: str, pairs: Collection[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """For (field, value) pairs, a contact whose value of that field the component holds.

    Only the component's own values are looked at (the lowest contact id wins).
    """
    if not pairs:
        return {}
    found: dict[tuple[str, str], str] = {}
    fields = sorted({name for name, _ in pairs})
    rows = session.execute(
        select(ValueRow.field, ValueRow.value, ValueRow.contact_id)
        .where(
            ValueRow.owner_component == component_id,
            ValueRow.field.in_(fields),
            _among(session, ValueRow.value, {value for _, value in pairs}),
        )
        .order_by(ValueRow.contact_id)
    )
    for name, value, contact_id in rows:
        if (name, value) in pairs:
            found.setdefault((name, value), contact_id)
    return found


def import_view(
    session: Session, ids: Collection[str], component_id: str, email_fields: Collection[str]
) -> tuple[dict[str, policy.Kind], dict[str, set[str]], list[tuple[str, str, str, str]]]:
    """Kinds, members, and the values an import needs of these contacts (three queries).

    Values: the component's own values, and every owner's email values (to keep the
    address index right); as (contact_id, field, owner, value).
    """
    if not ids:
        return {}, {}, []
    kinds, members = kinds_and_members(session, ids)
    values = [
        (row.contact_id, row.field, row.owner_component, row.value)
        for row in session.execute(
            select(
                ValueRow.contact_id, ValueRow.field, ValueRow.owner_component, ValueRow.value
            ).where(
                _among(session, ValueRow.contact_id, ids),
                (ValueRow.owner_component == component_id) | ValueRow.field.in_(list(email_fields)),
            )
        )
    ]
    return kinds, members, values


@dataclass(frozen=True)
class ImportWrites:
    """Everything one decided import batch writes, for one component and one subject."""

    component: str
    subject: str
    created: Mapping[str, policy.Kind]  # new contacts, in the order they were decided
    joined: Sequence[str]  # existing contacts the component joins
    claims: Mapping[str, str]  # normalised address -> contact id
    releases: Collection[tuple[str, str]]  # (address, contact id) pairs to unbind
    values: Mapping[tuple[str, str], Clean]  # (contact id, field) -> the component's value
    touched: Collection[str]  # existing contacts whose values or members changed
    changes: Sequence[dict[str, Any]]  # change-history rows (see record_changes_bulk)


def write_import_batch(session: Session, writes: ImportWrites) -> bool:
    """Applies a decided batch: False (nothing to keep) when another contact holds an address.

    On PostgreSQL each table gets one statement whose rows travel as one array per
    column (`unnest`): the statement text stays short whatever the batch size, so
    neither SQLAlchemy nor the driver renders or parses thousands of placeholders.
    Elsewhere (SQLite) the portable multi-row statements below do the same writes.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _write_import_batch_postgres(session, writes)
    insert_contacts_bulk(session, writes.created.items())
    release_addresses_bulk(session, writes.releases)
    if not claim_addresses_bulk(session, writes.claims):
        return False
    add_memberships_bulk(session, [*writes.created, *writes.joined], writes.component)
    put_values_bulk(session, writes.values, writes.component, writes.subject)
    touch_many(session, writes.touched)
    record_changes_bulk(session, writes.changes)
    return True


_PG_INSERT_CONTACTS = """
INSERT INTO contacts (id, kind, created_at, updated_at)
SELECT id, kind, %(now)s, %(now)s FROM unnest(%(ids)s::text[], %(kinds)s::text[]) AS t(id, kind)
"""
_PG_RELEASE_ADDRESSES = """
DELETE FROM contact_addresses AS a
USING unnest(%(addresses)s::text[], %(ids)s::text[]) AS r(address, contact_id)
WHERE a.address = r.address AND a.contact_id = r.contact_id
"""
_PG_CLAIM_ADDRESSES = """
INSERT INTO contact_addresses (address, contact_id)
SELECT address, contact_id
FROM unnest(%(addresses)s::text[], %(ids)s::text[]) AS t(address, contact_id)
ON CONFLICT (address) DO NOTHING
"""
_PG_ADD_MEMBERSHIPS = """
INSERT INTO memberships (contact_id, component_id, created_at)
SELECT id, %(component)s, %(now)s FROM unnest(%(ids)s::text[]) AS t(id)
ON CONFLICT (contact_id, component_id) DO NOTHING
"""
_PG_PUT_VALUES = """
INSERT INTO contact_values
    (contact_id, field, owner_component, value, number_value, updated_by, updated_at)
SELECT contact_id, field, %(owner)s, value, number_value, %(subject)s, %(now)s
FROM unnest(%(ids)s::text[], %(fields)s::text[], %(values)s::text[], %(numbers)s::numeric[])
    AS t(contact_id, field, value, number_value)
ON CONFLICT (contact_id, field, owner_component) DO UPDATE SET
    value = EXCLUDED.value, number_value = EXCLUDED.number_value,
    updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
"""
_PG_TOUCH = "UPDATE contacts SET updated_at = %(now)s WHERE id IN (SELECT unnest(%(ids)s::text[]))"
_PG_RECORD_CHANGES = """
INSERT INTO contact_changes (contact_id, action, subject, component, fields, detail, at)
SELECT contact_id, action, subject, component, fields::json, detail::json, %(now)s
FROM unnest(%(ids)s::text[], %(actions)s::text[], %(subjects)s::text[],
            %(components)s::text[], %(fields)s::text[], %(details)s::text[])
    AS t(contact_id, action, subject, component, fields, detail)
"""


def _write_import_batch_postgres(session: Session, writes: ImportWrites) -> bool:
    connection = session.connection()
    now = utcnow()

    def run(sql: str, **params: Any) -> Any:
        arrays = {k: _pg_array(v) if isinstance(v, list) else v for k, v in params.items()}
        return connection.exec_driver_sql(sql, {"now": now, **arrays})

    if writes.created:
        kinds = [kind.value for kind in writes.created.values()]
        run(_PG_INSERT_CONTACTS, ids=list(writes.created), kinds=kinds)
    if writes.releases:
        released = sorted(writes.releases)
        run(
            _PG_RELEASE_ADDRESSES,
            addresses=[a for a, _ in released],
            ids=[c for _, c in released],
        )
    if writes.claims:
        claims = sorted(writes.claims.items())
        taken = run(
            _PG_CLAIM_ADDRESSES, addresses=[a for a, _ in claims], ids=[c for _, c in claims]
        )
        if taken.rowcount != len(claims):
            return False
    members = [*writes.created, *writes.joined]
    if members:
        run(_PG_ADD_MEMBERSHIPS, component=writes.component, ids=members)
    if writes.values:
        keys = list(writes.values)
        cleans = list(writes.values.values())
        run(
            _PG_PUT_VALUES,
            owner=writes.component,
            subject=writes.subject,
            ids=[contact_id for contact_id, _ in keys],
            fields=[name for _, name in keys],
            values=[clean.value for clean in cleans],
            numbers=[clean.number for clean in cleans],
        )
    if writes.touched:
        run(_PG_TOUCH, ids=sorted(writes.touched))
    if writes.changes:
        changes = writes.changes
        run(
            _PG_RECORD_CHANGES,
            ids=[c["contact_id"] for c in changes],
            actions=[c["action"] for c in changes],
            subjects=[c["subject"] for c in changes],
            components=[c["component"] for c in changes],
            fields=[json.dumps(c["fields"]) for c in changes],
            details=[None if c["detail"] is None else json.dumps(c["detail"]) for c in changes],
        )
    return True


def insert_contacts_bulk(session: Session, contacts: Iterable[tuple[str, policy.Kind]]) -> None:
    now = utcnow()
    rows = [{"id": i, "kind": k.value, "created_at": now, "updated_at": now} for i, k in contacts]
    if rows:
        session.execute(insert(ContactRow).returning(ContactRow.id), rows)


def claim_addresses_bulk(session: Session, claims: Mapping[str, str]) -> bool:
    """Binds each address to its contact; False when another contact holds one already."""
    rows = [{"address": a, "contact_id": c} for a, c in sorted(claims.items())]
    if not rows:
        return True
    statement = (
        insert_on_conflict(session, AddressRow.__table__)
        .on_conflict_do_nothing(index_elements=["address"])
        .returning(AddressRow.address)
    )
    return len(session.execute(statement, rows).all()) == len(rows)


def release_addresses_bulk(session: Session, released: Collection[tuple[str, str]]) -> None:
    """Unbinds (address, contact_id) pairs (one statement)."""
    if released:
        session.execute(
            delete(AddressRow).where(
                tuple_(AddressRow.address, AddressRow.contact_id).in_(sorted(released))
            )
        )


def add_memberships_bulk(session: Session, contact_ids: Iterable[str], component_id: str) -> None:
    now = utcnow()
    rows = [{"contact_id": i, "component_id": component_id, "created_at": now} for i in contact_ids]
    if rows:
        session.execute(
            insert_on_conflict(session, MembershipRow.__table__)
            .on_conflict_do_nothing(index_elements=["contact_id", "component_id"])
            .returning(MembershipRow.contact_id),
            rows,
        )


def put_values_bulk(
    session: Session, values: Mapping[tuple[str, str], Clean], owner: str, subject: str
) -> None:
    """Writes the owner's values, keyed by (contact_id, field), replacing those it held."""
    now = utcnow()
    rows = [
        {
            "contact_id": contact_id,
            "field": name,
            "owner_component": owner,
            "value": clean.value,
            "number_value": clean.number,
            "updated_by": subject,
            "updated_at": now,
        }
        for (contact_id, name), clean in values.items()
    ]
    if rows:
        statement = insert_on_conflict(session, ValueRow.__table__)
        statement = statement.on_conflict_do_update(
            index_elements=["contact_id", "field", "owner_component"],
            set_={
                name: statement.excluded[name]
                for name in ("value", "number_value", "updated_by", "updated_at")
            },
        )
        session.execute(statement.returning(ValueRow.contact_id), rows)


def touch_many(session: Session, contact_ids: Collection[str]) -> None:
    if contact_ids:
        session.execute(
            update(ContactRow)
            .where(ContactRow.id.in_(sorted(contact_ids)))
            .values(updated_at=utcnow())
        )


def record_changes_bulk(session: Session, changes: Iterable[dict[str, Any]]) -> None:
    """Appends change-history rows (contact_id, action, subject, component, fields, detail)."""
    now = utcnow()
    rows = [{**change, "at": now} for change in changes]
    if rows:
        session.execute(insert(ChangeRow).returning(ChangeRow.id), rows)


def store_import_batch(
    session: Session,
    component_id: str,
    import_id: str,
    first_line: int,
    last_line: int,
    subject: str,
    report: list[dict[str, Any]],
) -> None:
    """Records an applied batch; a concurrent replay of it fails on the primary key."""
    session.execute(
        insert(ImportBatchRow).values(
            component_id=component_id,
            import_id=import_id,
            first_line=first_line,
            last_line=last_line,
            subject=subject,
            report=report,
            applied_at=utcnow(),
        )
    )


def import_batches(
    session: Session, component_id: str, import_id: str
) -> Iterable[tuple[int, list[dict[str, Any]]]]:
    """(last_line, report) of each applied batch of an import, fetched a few at a time."""
    result = session.execute(
        select(ImportBatchRow.last_line, ImportBatchRow.report)
        .where(ImportBatchRow.component_id == component_id, ImportBatchRow.import_id == import_id)
        .execution_options(yield_per=10)
    )
    for row in result:
        yield row.last_line, row.report
