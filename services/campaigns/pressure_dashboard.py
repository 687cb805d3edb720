"""The GetPressureDashboard use case: who may read which view, and the figures they get.

Reads only the pre-aggregates (pressure_rollup.py), never the ledger, and publishes
them under contacts' disclosure rules (pressure_publication.py). Who may ask:

- the grouping's view (no component): the communication role, admins, and the
  grouping's data-protection officer (a dpo bound to no component);
- one component's view: the same, and anyone bound to that component (any role).

Anyone else gets PERMISSION_DENIED, before the month is even looked at.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from sqlalchemy import select

from meshkit.db import Database
from meshkit.disclosure import Rules
from meshkit.errors import PermissionDenied, Violations
from meshkit.identity import Principal
from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.campaigns.models import PressureCell, PressureCellComponent, PressureMonth
from services.campaigns.pressure_publication import Figure, Summary, protect
from services.campaigns.pressure_rollup import ALL, CellKey, month_of

log = logging.getLogger(__name__)

MONTH = re.compile(r"(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])")
RULES_TTL_SECONDS = 60.0
MAX_COMPONENT = 64


@dataclass(frozen=True)
class Dashboard:
    month: str
    component: str  # "" : the grouping
    rules: Rules
    figures: list[Figure]
    computed_at: datetime | None  # None: the month was never computed


def may_read(principal: Principal, component: str) -> bool:
    """Grouping view: communication, admin, the grouping's dpo; a component's: its staff too."""
    if principal.has_role(Role.COMMUNICATION) or principal.is_admin:
        return True
    if principal.has_role(Role.DPO) and not principal.component:
        return True
    return bool(component) and principal.component == component


class DisclosureRulesSource:
    """Contacts' disclosure rules, asked at most once a minute.

    Until contacts answers GetDisclosureRules (UNIMPLEMENTED), the defaults; when it
    cannot be reached, the last rules it gave, or the defaults if it never answered
    (logged: the figures are then published under the defaults).
    """

    def __init__(
        self,
        fetch: Callable[[], Rules] | None,
        ttl_seconds: float = RULES_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, Rules] | None = None

    def rules(self) -> Rules:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._ttl:
                return self._cached[1]
            previous = self._cached[1] if self._cached is not None else Rules()
            try:
                found = self._fetch() if self._fetch is not None else Rules()
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                    log.warning("disclosure rules unavailable: the last known ones apply")
                found = previous
            self._cached = (now, found)
            return found


def grpc_rules(channel: grpc.Channel) -> Callable[[], Rules]:
    """Fetches the rules from contacts over the service's channel."""
    stub = contacts_pb2_grpc.ContactsServiceStub(channel)

    def fetch() -> Rules:
        reply = stub.GetDisclosureRules(contacts_pb2.GetDisclosureRulesRequest())
        defaults = Rules()
        return Rules(
            k=reply.k or defaults.k,
            p=reply.p or defaults.p,
            min_components=max(2, reply.min_components or defaults.min_components),
        )

    return fetch


def checked_request(month: str, component: str, now: datetime) -> tuple[str, str]:
    problems = Violations()
    month = month or month_of(now)
    if not MONTH.fullmatch(month):
        problems.add("month", "must be YYYY-MM")
    if len(component) > MAX_COMPONENT or "\x00" in component:
        problems.add("component", f"must be at most {MAX_COMPONENT} characters")
    problems.raise_if_any()
    return month, component


class PressureDashboards:
    """The dashboard, from the pre-aggregates, under the disclosure rules."""

    def __init__(
        self,
        db: Database,
        rules: DisclosureRulesSource,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._db = db
        self._rules = rules
        self._clock = clock

    def dashboard(self, principal: Principal, month: str, component: str) -> Dashboard:
        if not may_read(principal, component):
            raise PermissionDenied(
                "the grouping's pressure dashboard needs the communication, admin or "
                "grouping dpo role; a component's, also that component's staff"
            )
        month, component = checked_request(month, component, self._clock())
        return self.view(month, component)

    def view(self, month: str, component: str = "") -> Dashboard:
        """The published figures of one month (no access check: the caller did it)."""
        cells = self.cells(month, component)
        rules = self._rules.rules()
        with self._db.transaction() as session:
            stamp = session.scalar(
                select(PressureMonth.computed_at).where(PressureMonth.month == month)
            )
        figures = protect(cells, rules, component or None)
        return Dashboard(month, component, rules, figures, stamp)

    def cells(self, month: str, component: str = "") -> dict[CellKey, Summary]:
        cell = PressureCell
        query = select(
            cell.series,
            cell.component,
            cell.purpose,
            cell.bucket,
            cell.units,
            cell.contacts,
            cell.top_units,
        ).where(cell.month == month)
        if component:
            query = query.where(cell.component == component)
        parts: dict[CellKey, dict[str, tuple[int, int]]] = {}
        with self._db.transaction() as session:
            rows = session.execute(query).all()
            if not component:
                part = PressureCellComponent
                for s, c, p, b, who, units, contacts in session.execute(
                    select(
                        part.series,
                        part.component,
                        part.purpose,
                        part.bucket,
                        part.contributor,
                        part.units,
                        part.contacts,
                    ).where(part.month == month, part.component == ALL)
                ):
                    parts.setdefault((s, c, p, b), {})[who] = (int(units), int(contacts))
        return {
            (s, c, p, b): Summary(int(u), int(n), int(t), parts.get((s, c, p, b), {}))
            for s, c, p, b, u, n, t in rows
        }
