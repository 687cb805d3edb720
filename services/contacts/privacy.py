"""Data-protection use cases: merge two records of one person, the audit of sensitive
reads, and the GDPR rights the grouping's DPO exercises (export, rectification, erasure).

Who may do what:
- merge: an administrator or a data-protection officer (`dpo`);
- sensitive reads: a `dpo` acting for a component sees the reads of the values
  that component owns, and nothing else;
- export, rectification and erasure: the grouping's DPO (`dpo` role, no component),
  or a mesh service (consent's privacy requests, opened by that DPO).

Values never appear in an error or a log line; a merge's discarded values are
kept in the change history's `detail`, which only the export shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import FailedPrecondition, NotFound, PermissionDenied, Violations, invalid
from meshkit.fields import EMAIL_FIELDS
from meshkit.identity import Principal
from meshkit.roles import Role
from services.contacts import repository
from services.contacts.policy import Kind, Rules, Viewer, sensitive
from services.contacts.service import Shown, _rebind_addresses, _show, viewer_of
from services.contacts.validation import (
    clean_values,
    is_contact_id,
    normalise_email,
    page_size,
    require_component_id,
)

MERGE_ROUTE = "MergeContacts"
READS_LIST = "audit.sensitive-reads"


@dataclass(frozen=True)
class Choice:
    field: str
    owner: str
    keep_merged: bool


@dataclass(frozen=True)
class MergeOutcome:
    """Either the conflicts that need a choice (nothing merged), or the survivor."""

    conflicts: list[tuple[str, str]]
    survivor: Shown | None


@dataclass(frozen=True)
class Read:
    subject: str
    component: str
    contact_id: str
    field: str
    route: str
    read_at: datetime


@dataclass(frozen=True)
class ReadsPage:
    reads: list[Read]
    next_page_token: str


@dataclass(frozen=True)
class Export:
    id: str
    kind: Kind
    member_components: list[str]
    values: list[repository.HeldValue]
    changes: list[repository.Change]
    merged_ids: list[str]


# --- Roles ---------------------------------------------------------------------------------


def require_admin_or_dpo(principal: Principal) -> None:
    if not (principal.is_admin or principal.has_role(Role.DPO)):
        raise PermissionDenied("this operation needs the admin or dpo role")


def require_grouping_dpo(principal: Principal) -> None:
    """The grouping's data-protection officer: the dpo role and no component."""
    principal.require_role(Role.DPO)
    if principal.component:
        raise PermissionDenied("this operation is reserved to the grouping's dpo (no component)")


def require_component_dpo(principal: Principal) -> str:
    principal.require_role(Role.DPO)
    return principal.require_component()


# --- Merge ---------------------------------------------------------------------------------


def merge_contacts(
    db: Database,
    principal: Principal,
    survivor_id: str,
    merged_id: str,
    choices: Sequence[Choice],
) -> MergeOutcome:
    """Merges `merged_id` into `survivor_id`, or lists the conflicts that need a choice.

    Repeating a merge that was done returns the survivor again (so a caller may
    retry until consent and campaigns were told).
    """
    require_admin_or_dpo(principal)
    problems = Violations()
    for name, value in (("survivor_id", survivor_id), ("merged_id", merged_id)):
        if not is_contact_id(value):
            problems.add(name, "is not a contact id")
    if survivor_id == merged_id and survivor_id:
        problems.add("merged_id", "is the survivor itself")
    problems.raise_if_any()
    with db.transaction() as session:
        rules = repository.load_rules(session)
        viewer = viewer_of(session, principal)
        if repository.survivors(session, [merged_id]).get(merged_id) == survivor_id:
            return MergeOutcome([], _survivor(session, principal, viewer, rules, survivor_id))
        first, second = sorted((survivor_id, merged_id))  # one lock order for every merger
        kinds = {first: repository.lock_contact(session, first)}
        kinds[second] = repository.lock_contact(session, second)
        if kinds[survivor_id] is None or kinds[merged_id] is None:
            raise NotFound("contact not found")
        if kinds[survivor_id] != kinds[merged_id]:
            raise FailedPrecondition("a person and a company cannot be merged")
        contacts = repository.load_contacts(session, [survivor_id, merged_id])
        kept = {(v.field, v.owner): v.value for v in contacts[survivor_id].values}
        other = {(v.field, v.owner): v.value for v in contacts[merged_id].values}
        conflicts = sorted(k for k in kept.keys() & other.keys() if kept[k] != other[k])
        chosen = _choices(choices, conflicts)
        if len(chosen) < len(conflicts):
            return MergeOutcome(conflicts, None)
        take = {k for k in other if k not in kept or chosen.get(k, False)}
        discarded = [
            {
                "field": key[0],
                "owner_component": key[1],
                "kept": "merged" if chosen[key] else "survivor",
                "discarded_value": (kept if chosen[key] else other)[key],
            }
            for key in conflicts
        ]
        repository.move_values(session, merged_id, survivor_id, take)
        repository.delete_values_of_contact(session, merged_id)
        final = {**kept, **{k: other[k] for k in take}}
        addresses = {normalise_email(v) for (name, _), v in final.items() if name in EMAIL_FIELDS}
        repository.rebind_all_addresses(session, [survivor_id, merged_id], survivor_id, addresses)
        repository.move_memberships(session, merged_id, survivor_id)
        repository.add_redirect(session, merged_id, survivor_id)
        repository.delete_contact_row(session, merged_id)
        repository.touch(session, survivor_id)
        moved = sorted({name for name, _ in take} | {name for name, _ in conflicts})
        repository.record_change(
            session,
            survivor_id,
            "merged",
            principal.subject,
            principal.component,
            moved,
            {"merged_id": merged_id, "conflicts": discarded},
        )
        repository.record_change(
            session,
            merged_id,
            "merged",
            principal.subject,
            principal.component,
            (),
            {"survivor_id": survivor_id},
        )
        return MergeOutcome([], _survivor(session, principal, viewer, rules, survivor_id))


def _choices(
    choices: Sequence[Choice], conflicts: list[tuple[str, str]]
) -> dict[tuple[str, str], bool]:
    """The choice made for each conflict; InvalidArgument for a choice naming no conflict."""
    open_conflicts = set(conflicts)
    chosen: dict[tuple[str, str], bool] = {}
    problems = Violations()
    for index, choice in enumerate(choices):
        key = (choice.field, choice.owner)
        if key not in open_conflicts:
            problems.add(f"choices[{index}]", "names no conflict of these two contacts")
        elif key in chosen:
            problems.add(f"choices[{index}]", "repeats a choice")
        else:
            chosen[key] = choice.keep_merged
    problems.raise_if_any()
    return chosen


def _survivor(
    session: Session, principal: Principal, viewer: Viewer, rules: Rules, survivor_id: str
) -> Shown:
    shown = _show(session, principal, viewer, rules, [survivor_id], MERGE_ROUTE)
    if not shown:
        raise NotFound("contact not found")
    return shown[0]


# --- Sensitive reads -----------------------------------------------------------------------


def list_sensitive_reads(
    db: Database, principal: Principal, contact_id: str, requested_size: int, page_token: str
) -> ReadsPage:
    """Reads of the values the caller's component owns, oldest first, a page at a time."""
    owner = require_component_dpo(principal)
    if contact_id and not is_contact_id(contact_id):
        raise invalid("contact_id", "is not a contact id")
    size = page_size(requested_size)
    after = page_tokens.after_int(page_token, READS_LIST, owner, contact_id)
    with db.transaction() as session:
        ids: list[str] | None = None
        if contact_id:
            target = repository.survivors(session, [contact_id]).get(contact_id, contact_id)
            ids = [target, *repository.merged_into(session, target)]
        rows = repository.sensitive_reads_of(session, owner, ids, after, size + 1)
    reads = [Read(r.subject, r.component, r.contact_id, r.field, r.route, r.read_at) for r in rows]
    more = len(rows) > size
    token = page_tokens.encode(READS_LIST, (rows[size - 1].id,), owner, contact_id) if more else ""
    return ReadsPage(reads[:size], token)


# --- Export, rectification, erasure ---------------------------------------------------------


def export_contact(db: Database, principal: Principal, contact_id: str) -> Export:
    """Everything held about one contact (its merged ids too), for the grouping's DPO.

    Showing a protected value is an audited read, like any other.
    """
    _require_grouping_dpo_or_service(principal)
    with db.transaction() as session:
        target = _existing(session, contact_id)
        contact = repository.load_contacts(session, [target])[target]
        merged = repository.merged_into(session, target)
        values = repository.held_values(session, target)
        changes = repository.changes_of(session, [target, *merged])
        rules = repository.load_rules(session)
        repository.record_sensitive_reads(
            session,
            [
                repository.SensitiveRead(
                    principal.subject, "", target, v.field, v.owner, "ExportContact"
                )
                for v in values
                if sensitive(rules, v.field)
            ],
        )
    return Export(target, contact.kind, sorted(contact.members), values, changes, merged)


def rectify_contact(
    db: Database,
    principal: Principal,
    contact_id: str,
    owner: str,
    raw_set: Mapping[str, str],
    clear: Sequence[str],
) -> Shown:
    """Sets or clears values held by `owner` (any component), audited as `rectified`."""
    _require_grouping_dpo_or_service(principal)
    owner = require_component_id("owner_component", owner)
    with db.transaction() as session:
        catalogue = repository.load_catalogue(session)
        problems = Violations()
        values = clean_values(problems, catalogue, raw_set, "set")
        for index, name in enumerate(clear):
            if catalogue.type_of(name) is None:
                problems.add(f"clear[{index}]", "is not a field of the catalogue")
        if not raw_set and not clear:
            problems.add("set", "nothing to change")
        problems.raise_if_any()
        target = _existing(session, contact_id, lock=True)
        contact = repository.load_contacts(session, [target])[target]
        if values and owner not in contact.members:
            raise FailedPrecondition("owner_component is not a member of this contact")
        _rebind_addresses(session, target, owner, contact.values, values, clear)
        repository.put_values(session, target, owner, values, principal.subject)
        repository.delete_values(session, target, owner, list(clear))
        repository.touch(session, target)
        repository.record_change(
            session, target, "rectified", principal.subject, owner, [*values, *clear]
        )
        rules = repository.load_rules(session)
        viewer = viewer_of(session, principal)
        return _show(session, principal, viewer, rules, [target], "RectifyContact")[0]


def erase_contact(db: Database, principal: Principal, contact_id: str) -> str:
    """Removes everything about a contact but a tombstone of its id; returns that id."""
    _require_grouping_dpo_or_service(principal)
    with db.transaction() as session:
        target = _existing(session, contact_id, lock=True)
        repository.erase_contact(session, target)
        repository.record_change(session, target, "erased", principal.subject, principal.component)
    return target


def _require_grouping_dpo_or_service(principal: Principal) -> None:
    if not principal.is_service:
        require_grouping_dpo(principal)


def _existing(session: Session, contact_id: str, lock: bool = False) -> str:
    """The contact an id names (following a merge), or NotFound."""
    if not is_contact_id(contact_id):
        raise NotFound("contact not found")
    target = repository.survivors(session, [contact_id]).get(contact_id, contact_id)
    found = (
        repository.lock_contact(session, target)
        if lock
        else repository.existing_ids(session, [target])
    )
    if not found:
        raise NotFound("contact not found")
    return target
