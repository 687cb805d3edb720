"""The SQL of the contacts service: reads rows into policy objects, writes rows.

Each function works inside the caller's session, so a use case stays one
transaction. Reads of several contacts are batched: a fixed number of queries
whatever the number of contacts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.fields import FieldType
from services.contacts import policy
from services.contacts.models import (
    AddressRow,
    AttributeDefinitionRow,
    ChangeRow,
    ComponentRow,
    ContactRow,
    FieldPolicyRow,
    ImportBatchRow,
    LevelRow,
    MembershipRow,
    RedirectRow,
    SensitiveReadRow,
    TombstoneRow,
    ValueRow,
    utcnow,
)
from services.contacts.policy import Audience, FieldPolicy, Grant
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


def components(session: Session) -> list[tuple[str, str]]:
    """Every registered component as (id, name), by id."""
    rows = session.execute(select(ComponentRow.id, ComponentRow.name).order_by(ComponentRow.id))
    return [(row.id, row.name) for row in rows]


# --- Rules and catalogue ---------------------------------------------------------------


def load_rules(session: Session) -> policy.Rules:
    """The field policies in force and the levels, read fresh (two small queries)."""
    policies = {
        row.field: FieldPolicy(row.field, grants_of(row.read), grants_of(row.write))
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
    """Writes the owner's values, replacing those it held for the same fields."""
    if not values:
        return
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
        for name, clean in values.items()
    ]
    statement = insert_on_conflict(session, ValueRow.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id", "field", "owner_component"],
        set_={
            name: statement.excluded[name]
            for name in ("value", "number_value", "updated_by", "updated_at")
        },
    )
    session.execute(statement, rows)


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


def load_contacts(session: Session, ids: Collection[str]) -> dict[str, policy.Contact]:
    """The contacts with these ids, with members and values, in three queries."""
    if not ids:
        return {}
    wanted = list(set(ids))
    kinds = dict(
        session.execute(select(ContactRow.id, ContactRow.kind).where(ContactRow.id.in_(wanted)))
        .tuples()
        .all()
    )
    members: dict[str, set[str]] = defaultdict(set)
    for contact_id, component_id in session.execute(
        select(MembershipRow.contact_id, MembershipRow.component_id).where(
            MembershipRow.contact_id.in_(wanted)
        )
    ):
        members[contact_id].add(component_id)
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
            policy.Kind(kind),
            frozenset(members[contact_id]),
            tuple(sorted(values[contact_id], key=lambda v: (v.field, v.owner))),
        )
        for contact_id, kind in kinds.items()
    }


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
    if rows:
        session.execute(insert(SensitiveReadRow), rows)


def insert_on_conflict(session: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    dialect = session.get_bind().dialect.name
    target: Table = table
    if dialect == "postgresql":
        return postgresql.insert(target)
    return sqlite.insert(target)


# --- Imports -----------------------------------------------------------------------------
# Bulk statements for one import batch: a fixed number per batch. Each INSERT is sent
# as an executemany with RETURNING, which SQLAlchemy renders as multi-row VALUES
# statements of up to 1000 rows ("insertmanyvalues") from one cached compilation.


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
            AddressRow.address.in_(sorted(set(addresses)))
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
            ValueRow.value.in_(sorted({value for _, value in pairs})),
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
    wanted = sorted(set(ids))
    kinds = {
        row.id: policy.Kind(row.kind)
        for row in session.execute(
            select(ContactRow.id, ContactRow.kind).where(ContactRow.id.in_(wanted))
        )
    }
    members: dict[str, set[str]] = defaultdict(set)
    for contact_id, component in session.execute(
        select(MembershipRow.contact_id, MembershipRow.component_id).where(
            MembershipRow.contact_id.in_(wanted)
        )
    ):
        members[contact_id].add(component)
    values = [
        (row.contact_id, row.field, row.owner_component, row.value)
        for row in session.execute(
            select(
                ValueRow.contact_id, ValueRow.field, ValueRow.owner_component, ValueRow.value
            ).where(
                ValueRow.contact_id.in_(wanted),
                (ValueRow.owner_component == component_id) | ValueRow.field.in_(list(email_fields)),
            )
        )
    ]
    return kinds, dict(members), values


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
