"""gRPC adapter of the pressure policy (crm.campaigns.v1.PressurePolicyService), with its mapping.

Reading is open to any signed-in caller (the policy is not personal data);
writing needs the admin role, checked by the store whatever meshkit.access
said. Text fields of the messages (times, dates) are parsed here; a malformed
one is a field violation on the same path the store's validation uses
(`rules[2].scope`, `quiet_hours.start`, `quiet_dates[0].end`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from meshkit.errors import Unavailable, Violations, invalid
from meshkit.identity import current_principal
from protos.crm.campaigns.v1 import pressure_pb2 as pb
from protos.crm.campaigns.v1 import pressure_pb2_grpc
from services.campaigns.policy_store import PolicyStore, PolicyVersion
from services.campaigns.pressure_dashboard import Dashboard, PressureDashboards
from services.campaigns.pressure_policy import (
    DEFAULT_TIME_ZONE,
    BudgetRule,
    PressurePolicy,
    QuietDates,
    QuietHours,
    Scope,
)
from services.campaigns.pressure_status import (
    ContactPressure,
    Outcomes,
    PressureSimulations,
    PressureStatus,
)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PressurePolicyService"].full_name

_SCOPES = {
    Scope.GROUPING: pb.PRESSURE_SCOPE_GROUPING,
    Scope.COMPONENT: pb.PRESSURE_SCOPE_COMPONENT,
    Scope.PURPOSE: pb.PRESSURE_SCOPE_PURPOSE,
    Scope.CHANNEL: pb.PRESSURE_SCOPE_CHANNEL,
}
_SCOPE_OF = {number: scope for scope, number in _SCOPES.items()}
HH_MM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class PressurePolicyServicer(pressure_pb2_grpc.PressurePolicyServiceServicer):
    def __init__(
        self,
        store: PolicyStore,
        status: PressureStatus | None = None,
        simulations: PressureSimulations | None = None,
        dashboards: PressureDashboards | None = None,
    ):
        self._store = store
        self._status = status
        self._simulations = simulations
        self._dashboards = dashboards

    def GetPressureDashboard(
        self, request: pb.GetPressureDashboardRequest, context: grpc.ServicerContext
    ) -> pb.PressureDashboard:
        principal = current_principal()
        if self._dashboards is None:
            raise Unavailable("the pressure dashboard is not wired in this instance")
        found = self._dashboards.dashboard(principal, request.month, request.component)
        return dashboard_to_proto(found)

    def GetContactPressure(
        self, request: pb.GetContactPressureRequest, context: grpc.ServicerContext
    ) -> pb.ContactPressure:
        if self._status is None:
            raise Unavailable("contact pressure is not wired in this instance")
        found = self._status.status(
            current_principal(), request.contact_id, request.component, request.purpose
        )
        return contact_pressure_to_proto(found)

    def SimulatePressure(
        self, request: pb.SimulatePressureRequest, context: grpc.ServicerContext
    ) -> pb.SimulatePressureResponse:
        principal = current_principal()
        principal.require_admin()  # before the input is looked at
        if self._simulations is None:
            raise Unavailable("the pressure simulation is not wired in this instance")
        result = self._simulations.simulate(
            principal, request.campaign_id, policy_from_proto(request.policy)
        )
        return pb.SimulatePressureResponse(
            campaign_id=result.campaign_id,
            audience=result.audience,
            current_version=result.current_version,
            current=outcomes_to_proto(result.current),
            candidate=outcomes_to_proto(result.candidate),
        )

    def GetPressurePolicy(
        self, request: pb.GetPressurePolicyRequest, context: grpc.ServicerContext
    ) -> pb.PressurePolicyVersion:
        current_principal()  # bound by the interceptor: a verified caller
        if request.HasField("at"):
            return version_to_proto(self._store.version_at(instant_from(request.at)))
        return version_to_proto(self._store.latest_version())

    def PutPressurePolicy(
        self, request: pb.PutPressurePolicyRequest, context: grpc.ServicerContext
    ) -> pb.PressurePolicyVersion:
        principal = current_principal()
        principal.require_admin()  # before the input is looked at
        written = self._store.put_version(
            principal, policy_from_proto(request.policy), request.expected_version, request.note
        )
        return version_to_proto(written)

    def ListPressurePolicyVersions(
        self, request: pb.ListPressurePolicyVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListPressurePolicyVersionsResponse:
        current_principal()
        versions, token = self._store.history(request.page_size, request.page_token)
        return pb.ListPressurePolicyVersionsResponse(
            versions=[version_to_proto(v) for v in versions], next_page_token=token
        )


def register(servicer: PressurePolicyServicer):  # type: ignore[no-untyped-def]
    """The register function build_server expects for this servicer."""

    def add(server: grpc.Server) -> None:
        pressure_pb2_grpc.add_PressurePolicyServiceServicer_to_server(servicer, server)

    return add


# --- mapping ----------------------------------------------------------------------------------


def dashboard_to_proto(found: Dashboard) -> pb.PressureDashboard:
    """The published figures: a suppressed one carries its reason, never its value."""
    return pb.PressureDashboard(
        month=found.month,
        component=found.component,
        k=found.rules.k,
        p=int(found.rules.p),
        computed_at=found.computed_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if found.computed_at is not None
        else "",
        figures=[
            pb.PressureFigure(
                series=f.series,
                component=f.component,
                purpose=f.purpose,
                bucket=f.bucket,
                published=f.published,
                value=f.value or 0,
                reason=f.reason.value if f.reason is not None else "",
            )
            for f in found.figures
        ],
    )


def instant_from(stamp: Timestamp) -> datetime:
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise invalid("at", "is not a valid timestamp") from None


def policy_from_proto(message: pb.PressurePolicy) -> PressurePolicy:
    """The policy a request carries (not yet validated); malformed text fields are refused."""
    found = Violations()
    rules = []
    for index, rule in enumerate(message.rules):
        scope = _SCOPE_OF.get(rule.scope)
        if scope is None:
            found.add(f"rules[{index}].scope", "must be grouping, component, purpose or channel")
            continue
        rules.append(
            BudgetRule(rule.id, scope, rule.scope_value, rule.max_messages, rule.window_seconds)
        )
    hours = None
    if message.HasField("quiet_hours"):
        start = _time(message.quiet_hours.start, "quiet_hours.start", found)
        end = _time(message.quiet_hours.end, "quiet_hours.end", found)
        if start is not None and end is not None:
            hours = QuietHours(start, end)
    periods = []
    for index, period in enumerate(message.quiet_dates):
        first = _date(period.start, f"quiet_dates[{index}].start", found)
        last = _date(period.end, f"quiet_dates[{index}].end", found)
        if first is not None and last is not None:
            periods.append(QuietDates(period.id, period.component, first, last, period.label))
    found.raise_if_any()
    return PressurePolicy(
        version=0,
        rules=tuple(rules),
        min_gap_seconds=message.min_gap_seconds,
        quiet_hours=hours,
        quiet_dates=tuple(periods),
        default_time_zone=message.default_time_zone or DEFAULT_TIME_ZONE,
    )


def _time(text: str, path: str, found: Violations) -> time | None:
    if HH_MM.fullmatch(text) is None:
        found.add(path, "must be a local time HH:MM, e.g. 21:30")
        return None
    return time.fromisoformat(text)


def _date(text: str, path: str, found: Violations) -> date | None:
    if ISO_DATE.fullmatch(text) is not None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    found.add(path, "must be a date YYYY-MM-DD")
    return None


def policy_to_proto(policy: PressurePolicy) -> pb.PressurePolicy:
    message = pb.PressurePolicy(
        rules=[
            pb.PressureBudgetRule(
                id=rule.id,
                scope=_SCOPES[rule.scope],
                scope_value=rule.scope_value,
                max_messages=rule.max_messages,
                window_seconds=rule.window_seconds,
            )
            for rule in policy.rules
        ],
        min_gap_seconds=policy.min_gap_seconds,
        quiet_dates=[
            pb.PressureQuietDates(
                id=period.id,
                component=period.component,
                start=period.start.isoformat(),
                end=period.end.isoformat(),
                label=period.label,
            )
            for period in policy.quiet_dates
        ],
        default_time_zone=policy.default_time_zone,
    )
    if policy.quiet_hours is not None:
        message.quiet_hours.start = policy.quiet_hours.start.isoformat(timespec="minutes")
        message.quiet_hours.end = policy.quiet_hours.end.isoformat(timespec="minutes")
    return message


def version_to_proto(version: PolicyVersion) -> pb.PressurePolicyVersion:
    policy = version.policy
    message = pb.PressurePolicyVersion(
        version=policy.version,
        policy=policy_to_proto(policy),
        changed_by=policy.changed_by,
        note=policy.note,
    )
    if version.changed_at is not None:
        message.changed_at.FromDatetime(version.changed_at)
    return message


def _stamp(message: Timestamp, value: datetime | None) -> None:
    if value is not None:
        message.FromDatetime(value)


def contact_pressure_to_proto(found: ContactPressure) -> pb.ContactPressure:
    message = pb.ContactPressure(
        contact_id=found.contact_id,
        policy_version=found.policy_version,
        min_gap_seconds=found.min_gap_seconds,
        deciding_rule=found.deciding_rule,
    )
    for status in found.rules:
        rule = status.rule
        item = message.rules.add(
            rule=pb.PressureBudgetRule(
                id=rule.id,
                scope=_SCOPES[rule.scope],
                scope_value=rule.scope_value,
                max_messages=rule.max_messages,
                window_seconds=rule.window_seconds,
            ),
            code=rule.code,
            used=status.used,
            free=status.free,
        )
        _stamp(item.next_free_at, status.next_free_at)
    _stamp(message.last_counted_at, found.last_counted_at)
    _stamp(message.gap_until, found.gap_until)
    _stamp(message.next_allowed_at, found.next_allowed_at)
    _stamp(message.as_of, found.as_of)
    return message


def outcomes_to_proto(outcomes: Outcomes) -> pb.PressureOutcomes:
    return pb.PressureOutcomes(
        would_send=outcomes.would_send,
        deferred=outcomes.deferred,
        deferred_by_rule=dict(outcomes.deferred_by_rule),
        expired=outcomes.expired,
        capped=outcomes.capped,
        not_reached=outcomes.not_reached,
    )
