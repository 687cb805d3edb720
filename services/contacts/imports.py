"""Contact import: batches of up to 1000 rows, each applied as a whole or not at all.

A row is a contact as a file describes it, in the caller's component's words.
Its values are cleaned by the catalogue, its fields must be writable by the
caller, and it names a contact by its normalised email addresses: the file's
own earlier rows first, then every contact of the base. A row with no email
address names, by its phone or (a company) its organisation, one of the
caller's own contacts only. A row that names a contact adds the caller's
membership and the caller's own values to it; it never changes, and never
reveals, another component's values.

Each applied batch is stored with its report under (component, import_id,
first_line): the same batch sent again answers the stored report and writes
nothing, so an interrupted import is resumed by sending the file again under
the same id. The writes of a batch are a fixed number of multi-row statements.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meshkit.addresses import is_valid_address
from meshkit.db import Database
from meshkit.errors import FailedPrecondition, Violations, invalid
from meshkit.fields import CORE, EMAIL_FIELDS, FieldType
from meshkit.identity import Principal
from meshkit.roles import Role
from services.contacts import repository
from services.contacts.clients import SuppressionList
from services.contacts.policy import Kind, Rules, Viewer, refused_writes
from services.contacts.service import viewer_of
from services.contacts.validation import Catalogue, Clean, clean_value, normalise_email

MAX_ROWS = 1000
IMPORT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
PHONE_FIELDS = tuple(f.name for f in CORE.values() if f.type is FieldType.PHONE)
REACHABLE = (*EMAIL_FIELDS, *PHONE_FIELDS)
ATTEMPTS = 3  # a batch that lost a race for an address is decided again, from the start
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SUPPRESSED = "this address asked not to be contacted (suppression list): the row is not imported"


class Outcome(StrEnum):
    CREATED = "created"
    JOINED = "joined"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImportRow:
    line: int
    kind: Kind | None
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Problem:
    column: str
    description: str


@dataclass(frozen=True)
class RowReport:
    line: int
    outcome: Outcome
    contact_id: str = ""
    problems: tuple[Problem, ...] = ()
    same_as_line: int = 0  # an earlier line of this batch that named the same contact

    def stored(self) -> dict[str, Any]:
        item: dict[str, Any] = {"line": self.line, "outcome": self.outcome.value}
        if self.contact_id:
            item["contact_id"] = self.contact_id
        if self.problems:
            item["problems"] = [[p.column, p.description] for p in self.problems]
        if self.same_as_line:
            item["same_as_line"] = self.same_as_line
        return item

    @classmethod
    def from_stored(cls, item: Mapping[str, Any]) -> RowReport:
        return cls(
            int(item["line"]),
            Outcome(item["outcome"]),
            str(item.get("contact_id", "")),
            tuple(Problem(c, d) for c, d in item.get("problems", ())),
            int(item.get("same_as_line", 0)),
        )


@dataclass(frozen=True)
class ImportStatus:
    import_id: str
    last_line: int
    counts: Mapping[str, int]


# --- Use cases ---------------------------------------------------------------------------


def import_contacts(
    db: Database,
    principal: Principal,
    import_id: str,
    first_line: int,
    rows: Sequence[ImportRow],
    dry_run: bool,
    suppression: SuppressionList,
) -> list[RowReport]:
    """Decides every row of the batch and applies them together (or, dry, only decides).

    A row with an address on consent's suppression list is rejected; when consent
    cannot say, nothing is imported (Unavailable), never a suppressed person.
    """
    component = principal.require_component()
    principal.require_role(Role.CONTACT_EDITOR)
    _validate_batch(import_id, first_line, rows)
    suppressed = _suppressed_columns(rows, suppression)
    for attempt in range(ATTEMPTS):
        try:
            with db.transaction() as session:
                stored = repository.stored_import_batch(session, component, import_id, first_line)
                if stored is not None:
                    return [RowReport.from_stored(item) for item in stored]
                if not repository.component_exists(session, component):
                    raise FailedPrecondition("the caller's component is not registered")
                batch = _Batch(
                    session,
                    component,
                    viewer_of(session, principal),
                    repository.load_catalogue(session),
                    repository.load_rules(session),
                    suppressed=suppressed,
                )
                reports = batch.decide(rows)
                if not dry_run:
                    batch.write(import_id)
                    repository.store_import_batch(
                        session,
                        component,
                        import_id,
                        first_line,
                        max(row.line for row in rows),
                        principal.subject,
                        [r.stored() for r in reports],
                    )
                return reports
        except (_LostRace, IntegrityError):
            # Another writer took an address, or applied this very batch, meanwhile:
            # rolled back; deciding again sees what it committed (or its stored report).
            if attempt == ATTEMPTS - 1:
                raise FailedPrecondition(
                    "the batch conflicted with concurrent writes; send it again"
                ) from None
    raise AssertionError("unreachable")


def get_import(db: Database, principal: Principal, import_id: str) -> ImportStatus:
    """The last line applied and the rows per outcome of one import of the caller's component."""
    component = principal.require_component()
    principal.require_role(Role.CONTACT_EDITOR)
    if not IMPORT_ID.fullmatch(import_id):
        raise invalid("import_id", "must be 1 to 64 characters among A-Z, a-z, 0-9, ., _, : and -")
    counts: Counter[str] = Counter()
    last_line = 0
    with db.transaction() as session:
        for batch_last_line, report in repository.import_batches(session, component, import_id):
            last_line = max(last_line, batch_last_line)
            counts.update(item["outcome"] for item in report)
    return ImportStatus(import_id, last_line, dict(counts))


# --- Deciding a batch --------------------------------------------------------------------


class _LostRace(Exception):
    """A concurrent writer bound one of the batch's new addresses first."""


@dataclass
class _Known:
    """A contact as the batch sees it: what the caller may use to decide, nothing more."""

    id: str
    kind: Kind
    members: set[str]
    own: dict[str, str]  # the caller's component's values
    emails: dict[tuple[str, str], str]  # (field, owner) -> normalised address, every owner
    new: bool = False
    first_line: int = 0  # the first line of this batch that named it


@dataclass
class _Batch:
    session: Session
    component: str
    viewer: Viewer
    catalogue: Catalogue
    rules: Rules
    contacts: dict[str, _Known] = field(default_factory=dict)
    by_address: dict[str, str] = field(default_factory=dict)
    by_own_value: dict[tuple[str, str], str] = field(default_factory=dict)
    # What the batch will write.
    created: dict[str, Kind] = field(default_factory=dict)
    joined: list[str] = field(default_factory=list)
    claims: dict[str, str] = field(default_factory=dict)
    releases: set[tuple[str, str]] = field(default_factory=set)
    values: dict[tuple[str, str], Clean] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    # Per line, the address columns consent's suppression list holds.
    suppressed: Mapping[int, list[str]] = field(default_factory=dict)
    # What does not depend on the row, decided once per batch.
    _cleaned: dict[tuple[str, str], Clean | str] = field(default_factory=dict)
    _refused: dict[tuple[tuple[str, ...], frozenset[str]], list[str]] = field(default_factory=dict)

    def decide(self, rows: Sequence[ImportRow]) -> list[RowReport]:
        cleaned = [self._clean(row) for row in rows]
        self._load([(r.kind, c) for r, c in zip(rows, cleaned, strict=True) if isinstance(c, dict)])
        return [
            result if isinstance(result, RowReport) else self._apply(row, result)
            for row, result in zip(rows, cleaned, strict=True)
        ]

    def _clean(self, row: ImportRow) -> dict[str, Clean] | RowReport:
        """The row's clean values, or its rejection naming every offending column."""
        problems = [Problem(c, SUPPRESSED) for c in self.suppressed.get(row.line, ())]
        values: dict[str, Clean] = {}
        present: set[str] = set()
        cleaned = self._cleaned
        for name, raw in row.fields.items():
            if not raw or raw.isspace():
                continue  # an empty cell says nothing; it clears nothing
            present.add(name)
            result = cleaned.get((name, raw))
            if result is None:
                # The same cell text of the same column cleans the same way in every row
                # (a company's switchboard, a city, a job title): decided once per batch.
                result = cleaned[(name, raw)] = clean_value(self.catalogue, name, raw)
            if isinstance(result, str):
                problems.append(Problem(_shown(name), result))
            else:
                values[name] = result
        if row.kind is None:
            problems.append(Problem("kind", "must be person or company"))
        elif row.kind is Kind.PERSON and not present & set(REACHABLE):
            problems.append(Problem("email", "a person needs an email address or a phone number"))
        elif row.kind is Kind.COMPANY and "organisation" not in present:
            problems.append(Problem("organisation", "a company needs an organisation name"))
        if problems:
            return RowReport(row.line, Outcome.REJECTED, problems=tuple(problems))
        return values

    def _load(self, rows: list[tuple[Kind | None, dict[str, Clean]]]) -> None:
        """Everything the batch needs to know of the contacts its rows may name."""
        addresses = {a for _, values in rows for a in _addresses(values)}
        self.by_address = repository.address_holders(self.session, addresses)
        keys = {
            k for kind, values in rows if not _addresses(values) for k in _own_keys(kind, values)
        }
        self.by_own_value = repository.own_contacts_by_value(self.session, self.component, keys)
        ids = set(self.by_address.values()) | set(self.by_own_value.values())
        kinds, members, values = repository.import_view(
            self.session, ids, self.component, EMAIL_FIELDS
        )
        for contact_id, kind in kinds.items():
            self.contacts[contact_id] = _Known(
                contact_id, kind, members.get(contact_id, set()), {}, {}
            )
        for contact_id, name, owner, value in values:
            known = self.contacts[contact_id]
            if owner == self.component:
                known.own[name] = value
            if name in EMAIL_FIELDS:
                known.emails[(name, owner)] = normalise_email(value)

    def _apply(self, row: ImportRow, values: dict[str, Clean]) -> RowReport:
        assert row.kind is not None  # rejected otherwise
        found = self._named(row.kind, values)
        if isinstance(found, Problem):
            return RowReport(row.line, Outcome.REJECTED, problems=(found,))
        members = (found.members if found else set()) | {self.component}
        refused = self._refused_writes(tuple(values), frozenset(members))
        if refused:
            problems = tuple(Problem(_shown(n), "not writable by the caller") for n in refused)
            return RowReport(row.line, Outcome.REJECTED, problems=problems)
        if found is None:
            found = _Known(str(uuid.uuid4()), row.kind, {self.component}, {}, {}, new=True)
            self.contacts[found.id] = found
            self.created[found.id] = row.kind
            outcome, written = Outcome.CREATED, values
        elif self.component not in found.members:
            found.members.add(self.component)
            self.joined.append(found.id)
            outcome, written = Outcome.JOINED, values
        else:
            written = {n: c for n, c in values.items() if found.own.get(n) != c.value}
            outcome = Outcome.UPDATED if written else Outcome.UNCHANGED
        same_as = found.first_line
        found.first_line = found.first_line or row.line
        if written:
            self._write(found, written, outcome, row.line)
        return RowReport(row.line, outcome, found.id, same_as_line=same_as)

    def _refused_writes(self, names: tuple[str, ...], members: frozenset[str]) -> list[str]:
        """The policy's answer depends on the fields and the members only: asked once each."""
        key = (names, members)
        refused = self._refused.get(key)
        if refused is None:
            refused = self._refused[key] = refused_writes(self.rules, self.viewer, names, members)
        return refused

    def _named(self, kind: Kind, values: Mapping[str, Clean]) -> _Known | Problem | None:
        """The contact the row names: by its addresses, else by the caller's own values."""
        holders: dict[str, str] = {}
        for name in EMAIL_FIELDS:
            if name in values:
                holder = self.by_address.get(normalise_email(values[name].value))
                if holder is not None:
                    holders.setdefault(holder, name)
        if len(holders) > 1:
            column = list(holders.values())[1]
            return Problem(column, "belongs to another contact than the row's other address")
        if holders:
            return self.contacts[next(iter(holders))]
        if _addresses(values):
            return None
        for key in _own_keys(kind, values):
            known = self.contacts.get(self.by_own_value.get(key, ""))
            if known is not None and known.kind is kind and self.component in known.members:
                return known
        return None

    def _write(self, known: _Known, written: dict[str, Clean], outcome: Outcome, line: int) -> None:
        """Records the row's values in the batch's writes and in what later rows will see."""
        own_keys = set(_own_keys(known.kind, written))
        for name, clean in written.items():
            known.own[name] = clean.value
            self.values[(known.id, name)] = clean
            if name in EMAIL_FIELDS:
                before = known.emails.get((name, self.component))
                known.emails[(name, self.component)] = normalise_email(clean.value)
                if before is not None and before not in known.emails.values():
                    self._release(before, known.id)
                address = known.emails[(name, self.component)]
                if self.by_address.get(address) != known.id:
                    self.by_address[address] = known.id
                    self.claims[address] = known.id
                    self.releases.discard((address, known.id))
            if (name, clean.value) in own_keys:
                self.by_own_value.setdefault((name, clean.value), known.id)
        self.changes.append(
            {
                "contact_id": known.id,
                "action": outcome.value,
                "subject": self.viewer.subject,
                "component": self.component,
                "fields": sorted(written),
                "detail": {"import_line": line},
            }
        )

    def _release(self, address: str, contact_id: str) -> None:
        if self.claims.get(address) == contact_id:
            del self.claims[address]
        else:
            self.releases.add((address, contact_id))
        self.by_address.pop(address, None)

    def write(self, import_id: str) -> None:
        """The batch's writes: one statement per table."""
        for change in self.changes:
            change["detail"]["import_id"] = import_id
        writes = repository.ImportWrites(
            component=self.component,
            subject=self.viewer.subject,
            created=self.created,
            joined=self.joined,
            claims=self.claims,
            releases=self.releases,
            values=self.values,
            touched={c["contact_id"] for c in self.changes} - set(self.created),
            changes=self.changes,
        )
        if not repository.write_import_batch(self.session, writes):
            raise _LostRace()


# --- Helpers -----------------------------------------------------------------------------


def _validate_batch(import_id: str, first_line: int, rows: Sequence[ImportRow]) -> None:
    problems = Violations()
    if not IMPORT_ID.fullmatch(import_id):
        problems.add("import_id", "must be 1 to 64 characters among A-Z, a-z, 0-9, ., _, : and -")
    if first_line < 1:
        problems.add("first_line", "must be at least 1")
    if not rows or len(rows) > MAX_ROWS:
        problems.add("rows", f"1 to {MAX_ROWS} rows per batch")
    lines = [row.line for row in rows]
    if rows and (
        lines[0] != first_line or any(b <= a for a, b in zip(lines, lines[1:], strict=False))
    ):
        problems.add("rows", "lines must increase, the first one being first_line")
    problems.raise_if_any()


def _suppressed_columns(
    rows: Sequence[ImportRow], suppression: SuppressionList
) -> dict[int, list[str]]:
    """Per line, its address columns on the suppression list: one call for the batch."""
    cells = {
        (row.line, name): row.fields[name].strip()
        for row in rows
        for name in EMAIL_FIELDS
        if is_valid_address(row.fields.get(name, "").strip())  # others are rejected anyway
    }
    listed = suppression.suppressed(sorted(set(cells.values()))) if cells else set()
    found: dict[int, list[str]] = {}
    for (line, name), address in cells.items():
        if address in listed:
            found.setdefault(line, []).append(name)
    return found


def _addresses(values: Mapping[str, Clean]) -> list[str]:
    return [normalise_email(values[n].value) for n in EMAIL_FIELDS if n in values]


def _own_keys(kind: Kind | None, values: Mapping[str, Clean]) -> list[tuple[str, str]]:
    """The (field, value) pairs that name one of the caller's own contacts without an address."""
    names = [*PHONE_FIELDS, "organisation"] if kind is Kind.COMPANY else list(PHONE_FIELDS)
    return [(n, values[n].value) for n in names if n in values]


def _shown(name: str) -> str:
    """A column name safe to echo: a caller's arbitrary key is not repeated."""
    return name if len(name) <= 120 and not _CONTROL.search(name) else "<column>"
