"""Data protection: merge two records of one person, the audit of sensitive reads, and the
rights the grouping's DPO exercises (export, rectification, erasure).

Every route needs the `dpo` role (the registry takes one role; contacts itself also
accepts an administrator's merge, over gRPC). The services check again: export,
rectification and erasure are the grouping's DPO's (a token without a component),
the audit a component DPO's (the reads of the values its component owns).

A merge is done by contacts first; then the gateway tells consent and campaigns,
under its own service identity (their MergeContacts RPCs are for services only).
When one of them cannot be told, the answer is 503 and says so: contacts' merge
is idempotent, so repeating the request completes it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from flask import Blueprint, Response

from meshkit.errors import Unavailable
from meshkit.grpc_client import domain_error
from meshkit.roles import Role
from protos.crm.campaigns.v1 import campaigns_pb2
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import mapping, paging, responses, schemas
from services.gateway.api import Access, Reply, Routes, json_response
from services.gateway.clients import upstream
from services.gateway.problems import PROBLEM_JSON, problem_response, problem_type

log = logging.getLogger(__name__)

blueprint = Blueprint("privacy", __name__)
routes = Routes(blueprint, "data protection")


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/merge",
    summary="Merge another record of the same person into this one (dpo).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    body=schemas.MergeRequest,
    replies=(
        Reply(
            200,
            "Merged in contacts, consent and campaigns: consent reads both records' histories "
            "(strictest first), campaigns counts both records' mail in one pressure budget. "
            "Repeating a done merge answers the same.",
            responses.Merged,
        ),
        Reply(
            409,
            "Nothing was merged: `conflicts` lists each (field, owner component) both records "
            "hold with different values; send one choice per conflict.",
            responses.MergeConflictProblem,
            media_type=PROBLEM_JSON,
        ),
        Reply(
            503,
            "The merge is recorded in contacts but consent or campaigns could not be told: "
            "repeat the same request to complete it.",
            responses.Problem,
            media_type=PROBLEM_JSON,
        ),
    ),
)
def merge_contacts(contact_id: str, body: schemas.MergeRequest) -> Response:
    """POST /v1/contacts/<survivor id>/merge."""
    reply = upstream().contacts.MergeContacts(
        contacts_pb2.MergeContactsRequest(
            survivor_id=contact_id,
            merged_id=body.merged_id,
            choices=[
                contacts_pb2.MergeChoice(
                    field=c.field, owner_component=c.owner_component, keep_merged=c.keep_merged
                )
                for c in body.choices
            ],
        )
    )
    if reply.conflicts:
        return _conflicts(reply.conflicts)
    survivor_id = reply.survivor.id
    told = (
        (
            "consent",
            lambda: upstream().consent_as_gateway.MergeContacts(
                consent_pb2.MergeContactsRequest(survivor_id=survivor_id, merged_id=body.merged_id)
            ),
        ),
        (
            "campaigns",
            lambda: upstream().campaigns_as_gateway.MergeContacts(
                campaigns_pb2.MergeContactsRequest(
                    survivor_id=survivor_id, merged_id=body.merged_id
                )
            ),
        ),
    )
    for name, tell in told:
        try:
            tell()
        except grpc.RpcError as error:
            log.warning("merge recorded in contacts, %s not told: %s", name, domain_error(error))
            return problem_response(
                503,
                "Merge incomplete",
                f"the merge is recorded in contacts but {name} could not be told: "
                "repeat the same request to complete it",
                "MergeIncomplete",
                headers={"Retry-After": "1"},
            )
    return json_response(responses.Merged(survivor=mapping.contact(reply.survivor)), 200)


def _conflicts(conflicts: Any) -> Response:
    """409 naming each conflict by field and owner, never by value."""
    body = responses.MergeConflictProblem(
        type=problem_type("MergeConflict"),
        title="Conflict",
        status=409,
        detail="both records hold different values of these fields: choose one for each",
        conflicts=[
            responses.MergeConflict(field=c.field, owner_component=c.owner_component)
            for c in conflicts
        ],
    )
    return Response(body.model_dump_json(exclude_none=True), 409, mimetype=PROBLEM_JSON)


@routes.route(
    "GET",
    "/v1/audit/sensitive-reads",
    summary="Reads of the protected values the caller's component owns, oldest first (dpo).",
    access=Access.COMPONENT,
    role=Role.DPO,
    query=schemas.SensitiveReadsQuery,
    replies=(Reply(200, "One page of reads.", responses.SensitiveReadList),),
)
def list_sensitive_reads(query: schemas.SensitiveReadsQuery) -> Response:
    """GET /v1/audit/sensitive-reads."""
    reply = upstream().contacts.ListSensitiveReads(
        contacts_pb2.ListSensitiveReadsRequest(
            contact_id=query.contact_id or "",
            page_size=query.page_size,
            page_token=query.page_token,
        )
    )
    listed = responses.SensitiveReadList(
        reads=[
            responses.SensitiveRead(
                subject=r.subject,
                component=r.component,
                contact_id=r.contact_id,
                field=r.field,
                route=r.route,
                read_at=r.read_at,
            )
            for r in reply.reads
        ],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "GET",
    "/v1/contacts/<contact_id>/export",
    summary="Everything held about a contact, every component's values (the grouping's dpo).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    replies=(
        Reply(
            200,
            "The export; showing a protected value is an audited read.",
            responses.ContactExport,
        ),
    ),
)
def export_contact(contact_id: str) -> responses.ContactExport:
    """GET /v1/contacts/<id>/export."""
    export = upstream().contacts.ExportContact(contacts_pb2.ExportContactRequest(id=contact_id))
    return responses.ContactExport(
        id=export.id,
        kind=mapping._word(contacts_pb2.ContactKind, "CONTACT_KIND_", export.kind),
        member_components=list(export.member_components),
        values=[
            responses.ExportedValue(
                field=v.field,
                owner_component=v.owner_component,
                value=v.value,
                updated_at=v.updated_at,
                updated_by=v.updated_by,
            )
            for v in export.values
        ],
        changes=[
            responses.ContactChange(
                action=c.action,
                subject=c.subject,
                component=c.component or None,
                fields=list(c.fields),
                at=c.at,
                detail=json.loads(c.detail_json) if c.detail_json else None,
            )
            for c in export.changes
        ],
        merged_ids=list(export.merged_ids),
    )


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/rectify",
    summary="Correct the values one component holds (the grouping's dpo; null removes one).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    body=schemas.Rectification,
    replies=(
        Reply(200, "The contact after the correction, with its new ETag.", responses.Contact),
    ),
)
def rectify_contact(contact_id: str, body: schemas.Rectification) -> Response:
    """POST /v1/contacts/<id>/rectify."""
    changed = upstream().contacts.RectifyContact(
        contacts_pb2.RectifyContactRequest(
            id=contact_id,
            owner_component=body.owner_component,
            set={k: v for k, v in body.fields.items() if v is not None},
            clear=sorted(k for k, v in body.fields.items() if v is None),
        )
    )
    return json_response(mapping.contact(changed), 200, etag=changed.etag)


@routes.route(
    "DELETE",
    "/v1/contacts/<contact_id>/personal-data",
    summary="Erase a contact at once: its consent history goes, its values and record go, its "
    "id stays as a tombstone (the grouping's dpo). POST /v1/privacy-requests with kind "
    "`erasure` also reaches campaigns and the suppression list, and is retried and audited.",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    replies=(
        Reply(200, "Erased.", responses.Erased),
        Reply(
            503,
            "Consent could not be told (nothing was erased in contacts): repeat the request.",
            responses.Problem,
            media_type=PROBLEM_JSON,
        ),
    ),
)
def erase_contact(contact_id: str) -> Response:
    """DELETE /v1/contacts/<id>/personal-data."""
    # Consent first, with the caller's token (it checks the grouping's dpo as contacts does):
    # its erasure is idempotent, so a failure after it is repaired by repeating the request.
    try:
        upstream().consent.EraseContact(consent_pb2.EraseContactRequest(contact_id=contact_id))
    except grpc.RpcError as error:
        mapped = domain_error(error)
        if not isinstance(mapped, Unavailable):
            raise  # a refusal: the problem says why (the one upstream error mapping)
        log.warning("erasure: consent not told: %s", mapped.grpc_code)
        return problem_response(
            503,
            "Erasure not started",
            "consent could not be told: nothing was erased; repeat the request",
            "ErasureIncomplete",
            headers={"Retry-After": "1"},
        )
    reply = upstream().contacts.EraseContact(contacts_pb2.EraseContactRequest(id=contact_id))
    return json_response(responses.Erased(tombstone_id=reply.tombstone_id), 200)
