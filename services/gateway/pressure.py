"""The grouping's pressure policy: REST in front of crm.campaigns.v1.PressurePolicyService.

Any signed-in caller reads the policy (it is not personal data); an admin
changes it. A change names the version it was written from, as `If-Match`
(the ETag of GET) or as `expected_version` in the body: without either it is
a 428, and from a version no longer in force a 409, so two admins never
overwrite each other.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from meshkit.errors import invalid
from meshkit.roles import Role
from protos.crm.campaigns.v1 import pressure_pb2, pressure_pb2_grpc
from services.gateway import paging, schemas
from services.gateway.api import ANY_ROLE, Access, Reply, Routes, json_response
from services.gateway.clients import upstream
from services.gateway.inputs import PreconditionRequired
from services.gateway.mapping import message_time
from services.gateway.pressure_schemas import (
    PressurePolicyAt,
    PressurePolicyChange,
    PressurePolicyVersion,
    PressurePolicyVersionList,
    PressureRule,
    QuietDates,
    QuietHours,
)
from services.gateway.problems import PROBLEM_JSON
from services.gateway.responses import Problem

blueprint = Blueprint("pressure", __name__)
routes = Routes(blueprint, "pressure policy")

_SCOPES = {
    "grouping": pressure_pb2.PRESSURE_SCOPE_GROUPING,
    "component": pressure_pb2.PRESSURE_SCOPE_COMPONENT,
    "purpose": pressure_pb2.PRESSURE_SCOPE_PURPOSE,
    "channel": pressure_pb2.PRESSURE_SCOPE_CHANNEL,
}
_WORDS = {number: word for word, number in _SCOPES.items()}


def stub() -> pressure_pb2_grpc.PressurePolicyServiceStub:
    """PressurePolicyService over the campaigns channel that forwards the caller's token."""
    return upstream().pressure


@routes.route(
    "GET",
    "/v1/pressure-policy",
    summary="Read the pressure policy in force now, or at a past instant (`at`).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=PressurePolicyAt,
    replies=(
        Reply(
            200,
            "The version in force; its ETag (the version) goes back in If-Match to change it.",
            PressurePolicyVersion,
        ),
    ),
)
def get_pressure_policy(query: PressurePolicyAt) -> Response:
    """GET /v1/pressure-policy[?at=...]."""
    message = pressure_pb2.GetPressurePolicyRequest()
    if query.at is not None:
        message.at.FromDatetime(query.at)
    reply = stub().GetPressurePolicy(message)
    etag = None if query.at is not None else str(reply.version)
    return json_response(version_of(reply), 200, etag=etag)


@routes.route(
    "PUT",
    "/v1/pressure-policy",
    summary="Replace the pressure policy (admin): the whole policy, from the version last read.",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=PressurePolicyChange,
    replies=(
        Reply(200, "The new version (ETag: its number).", PressurePolicyVersion),
        Reply(
            409,
            "The version named (If-Match or `expected_version`) is no longer in force: "
            "nothing was written; read the policy again, then retry.",
            Problem,
            media_type=PROBLEM_JSON,
        ),
        Reply(
            428,
            "Neither If-Match nor `expected_version` says which version this change was "
            "written from.",
            Problem,
            media_type=PROBLEM_JSON,
        ),
    ),
)
def put_pressure_policy(body: PressurePolicyChange) -> Response:
    """PUT /v1/pressure-policy, with If-Match: "<version>" or `expected_version`."""
    expected = _expected_version(body)
    reply = stub().PutPressurePolicy(
        pressure_pb2.PutPressurePolicyRequest(
            policy=policy_message(body), expected_version=expected, note=body.note
        )
    )
    return json_response(version_of(reply), 200, etag=str(reply.version))


@routes.route(
    "GET",
    "/v1/pressure-policy/versions",
    summary="Every version of the pressure policy, newest first.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of versions.", PressurePolicyVersionList),),
)
def list_pressure_policy_versions(query: schemas.Page) -> Response:
    """GET /v1/pressure-policy/versions."""
    reply = stub().ListPressurePolicyVersions(
        pressure_pb2.ListPressurePolicyVersionsRequest(
            page_size=query.page_size, page_token=query.page_token
        )
    )
    listed = PressurePolicyVersionList(
        versions=[version_of(v) for v in reply.versions], next_page_token=reply.next_page_token
    )
    return paging.page(listed, listed.next_page_token)


def _expected_version(body: PressurePolicyChange) -> int:
    """The version the change was written from: If-Match, or the body's; 428 without either."""
    tags = request.if_match
    from_header: int | None = None
    if tags.star_tag:
        raise invalid("If-Match", 'must be the ETag of the policy as last read, e.g. "3"')
    if tags.as_set():
        (tag, *others) = sorted(tags.as_set())
        if others or not tag.isdigit() or len(tag) > 9:
            raise invalid("If-Match", 'must be the ETag of the policy as last read, e.g. "3"')
        from_header = int(tag)
    if from_header is None and body.expected_version is None:
        raise PreconditionRequired(
            "send If-Match with the ETag of the policy as last read, or expected_version"
        )
    if from_header is not None and body.expected_version not in (None, from_header):
        raise invalid("expected_version", "differs from If-Match: send one of the two")
    return from_header if from_header is not None else int(body.expected_version or 0)


# --- mapping ----------------------------------------------------------------------------------


def policy_message(body: PressurePolicyChange) -> pressure_pb2.PressurePolicy:
    message = pressure_pb2.PressurePolicy(
        rules=[
            pressure_pb2.PressureBudgetRule(
                id=rule.id,
                scope=_SCOPES[rule.scope],
                scope_value=rule.scope_value,
                max_messages=rule.max_messages,
                window_seconds=rule.window_seconds,
            )
            for rule in body.rules
        ],
        min_gap_seconds=body.min_gap_seconds,
        quiet_dates=[
            pressure_pb2.PressureQuietDates(
                id=period.id,
                component=period.component,
                start=period.start,
                end=period.end,
                label=period.label,
            )
            for period in body.quiet_dates
        ],
        default_time_zone=body.default_time_zone,
    )
    if body.quiet_hours is not None:
        message.quiet_hours.start = body.quiet_hours.start
        message.quiet_hours.end = body.quiet_hours.end
    return message


def version_of(message: pressure_pb2.PressurePolicyVersion) -> PressurePolicyVersion:
    policy = message.policy
    return PressurePolicyVersion(
        version=message.version,
        rules=[
            PressureRule(
                id=rule.id,
                scope=_WORDS[rule.scope],  # type: ignore[arg-type]
                scope_value=rule.scope_value,
                max_messages=rule.max_messages,
                window_seconds=rule.window_seconds,
            )
            for rule in policy.rules
        ],
        min_gap_seconds=policy.min_gap_seconds,
        quiet_hours=QuietHours(start=policy.quiet_hours.start, end=policy.quiet_hours.end)
        if policy.HasField("quiet_hours")
        else None,
        quiet_dates=[
            QuietDates(
                id=period.id,
                component=period.component,
                start=period.start,
                end=period.end,
                label=period.label,
            )
            for period in policy.quiet_dates
        ],
        default_time_zone=policy.default_time_zone,
        changed_by=message.changed_by or None,
        changed_at=message_time(message.changed_at) if message.HasField("changed_at") else None,
        note=message.note or None,
    )
