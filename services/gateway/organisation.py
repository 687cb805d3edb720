"""The organisation tree, the field catalogue and the field policies: REST in front of contacts.

Writes are for administrators; reads for any signed-in caller (the people of the
tree are listed to administrators only, which contacts decides).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway import paging, responses, schemas
from services.gateway.api import ANY_ROLE, Access, Reply, Routes
from services.gateway.clients import upstream

blueprint = Blueprint("organisation", __name__)
routes = Routes(blueprint, "organisation")

_TYPES = {
    "text": pb.FIELD_TYPE_TEXT,
    "number": pb.FIELD_TYPE_NUMBER,
    "date": pb.FIELD_TYPE_DATE,
    "boolean": pb.FIELD_TYPE_BOOLEAN,
    "enum": pb.FIELD_TYPE_ENUM,
    "email": pb.FIELD_TYPE_EMAIL,
    "phone": pb.FIELD_TYPE_PHONE,
    "time_zone": pb.FIELD_TYPE_TIME_ZONE,
    "language": pb.FIELD_TYPE_LANGUAGE,
    "contact": pb.FIELD_TYPE_CONTACT,
}
_TYPE_WORDS = {number: word for word, number in _TYPES.items()}
_AUDIENCES = {
    "owner": pb.AUDIENCE_OWNER,
    "members": pb.AUDIENCE_MEMBERS,
    "components": pb.AUDIENCE_COMPONENTS,
    "grouping": pb.AUDIENCE_GROUPING,
}
_AUDIENCE_WORDS = {number: word for word, number in _AUDIENCES.items()}


# --- Organisation tree ---------------------------------------------------------------------


@routes.route(
    "POST",
    "/v1/components/<component_id>/services",
    summary="Add a service inside a component (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.NewOrgService,
    replies=(Reply(201, "The new service.", responses.OrgService),),
)
def create_service(component_id: str, body: schemas.NewOrgService) -> responses.OrgService:
    """POST /v1/components/<id>/services."""
    request = pb.CreateServiceRequest(component_id=component_id, id=body.id, name=body.name)
    return _org_service(upstream().contacts.CreateService(request))


@routes.route(
    "PUT",
    "/v1/organisation/levels",
    summary="Replace the hierarchy levels, lowest first (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.LevelsBody,
    replies=(Reply(200, "The levels, lowest first.", responses.Levels),),
)
def set_levels(body: schemas.LevelsBody) -> responses.Levels:
    """PUT /v1/organisation/levels."""
    reply = upstream().contacts.SetLevels(pb.SetLevelsRequest(levels=body.levels))
    return responses.Levels(levels=list(reply.levels))


@routes.route(
    "PUT",
    "/v1/people/<subject>",
    summary="Put a person in the organisation, with their roles (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.PersonBody,
    replies=(Reply(200, "The person as recorded.", responses.Person),),
)
def put_person(subject: str, body: schemas.PersonBody) -> responses.Person:
    """PUT /v1/people/<subject>."""
    person = pb.Person(
        subject=subject,
        component_id=body.component_id or "",
        service_id=body.service_id or "",
        level=body.level or "",
        roles=body.roles,
    )
    return _person(upstream().contacts.PutPerson(pb.PutPersonRequest(person=person)))


@routes.route(
    "DELETE",
    "/v1/people/<subject>",
    summary="Remove a person from the organisation (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    replies=(Reply(204, "Removed.", media_type=""),),
)
def remove_person(subject: str) -> Response:
    """DELETE /v1/people/<subject>."""
    upstream().contacts.RemovePerson(pb.RemovePersonRequest(subject=subject))
    return Response(status=204)


@routes.route(
    "GET",
    "/v1/organisation",
    summary="The organisation tree (its people are listed to administrators only).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    replies=(Reply(200, "Components, services, levels and people.", responses.Organisation),),
)
def get_organisation() -> responses.Organisation:
    """GET /v1/organisation."""
    reply = upstream().contacts.GetOrganisation(pb.GetOrganisationRequest())
    return responses.Organisation(
        components=[responses.Component(id=c.id, name=c.name) for c in reply.components],
        services=[_org_service(s) for s in reply.services],
        levels=list(reply.levels),
        people=[_person(p) for p in reply.people],
    )


# --- Catalogue and policies ----------------------------------------------------------------


@routes.route(
    "GET",
    "/v1/catalogue",
    summary="Every field a contact can hold: core fields, then components' attributes.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of the field catalogue.", responses.Catalogue),),
)
def get_catalogue(query: schemas.Page) -> Response:
    """GET /v1/catalogue."""
    reply = upstream().contacts.GetCatalogue(
        pb.GetCatalogueRequest(page_size=query.page_size, page_token=query.page_token)
    )
    listed = responses.Catalogue(
        fields=[
            responses.FieldDefinition(
                field=f.field,
                type=_TYPE_WORDS.get(f.type, "text"),
                label_fr=f.label_fr,
                label_en=f.label_en,
                choices=list(f.choices) or None,
                component_id=f.component_id or None,
                mergeable=f.mergeable,
            )
            for f in reply.fields
        ],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "PUT",
    "/v1/components/<component_id>/attributes/<key>",
    summary="Declare a component's attribute, or change it (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.AttributeBody,
    replies=(Reply(200, "The attribute as declared.", responses.AttributeDefinition),),
)
def define_attribute(
    component_id: str, key: str, body: schemas.AttributeBody
) -> responses.AttributeDefinition:
    """PUT /v1/components/<id>/attributes/<key>."""
    attribute = pb.AttributeDefinition(
        component_id=component_id,
        key=key,
        type=_TYPES[body.type],
        choices=body.choices,
        label_fr=body.label_fr,
        label_en=body.label_en,
    )
    reply = upstream().contacts.DefineAttribute(pb.DefineAttributeRequest(attribute=attribute))
    return responses.AttributeDefinition(
        component_id=reply.component_id,
        key=reply.key,
        type=_TYPE_WORDS.get(reply.type, "text"),
        choices=list(reply.choices),
        label_fr=reply.label_fr,
        label_en=reply.label_en,
    )


@routes.route(
    "PUT",
    "/v1/field-policies/<field>",
    summary="Replace the policy of one field (admin only); kept in the policy history.",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.PolicyBody,
    replies=(Reply(200, "The policy now in force.", responses.FieldPolicy),),
)
def set_field_policy(field: str, body: schemas.PolicyBody) -> responses.FieldPolicy:
    """PUT /v1/field-policies/<field>."""
    read, write = [_grant_in(g) for g in body.read], [_grant_in(g) for g in body.write]
    aggregate = [_grant_in(g) for g in body.aggregate]
    policy = pb.FieldPolicy(field=field, read=read, write=write, aggregate=aggregate)
    reply = upstream().contacts.SetFieldPolicy(pb.SetFieldPolicyRequest(policy=policy))
    return _policy(reply)


@routes.route(
    "GET",
    "/v1/field-policies",
    summary="The field policies an administrator set (every other field is its owner's alone).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of the policies, by field.", responses.FieldPolicyList),),
)
def list_field_policies(query: schemas.Page) -> Response:
    """GET /v1/field-policies."""
    reply = upstream().contacts.ListFieldPolicies(
        pb.ListFieldPoliciesRequest(page_size=query.page_size, page_token=query.page_token)
    )
    listed = responses.FieldPolicyList(
        policies=[_policy(p) for p in reply.policies], next_page_token=reply.next_page_token
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "GET",
    "/v1/field-policies/changes",
    summary="Who changed which field policy, when, from what to what (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    query=schemas.PolicyChangesQuery,
    replies=(Reply(200, "One page of changes, newest first.", responses.FieldPolicyChangeList),),
)
def list_field_policy_changes(
    query: schemas.PolicyChangesQuery,
) -> Response:
    """GET /v1/field-policies/changes."""
    reply = upstream().contacts.ListFieldPolicyChanges(
        pb.ListFieldPolicyChangesRequest(
            field=query.field, page_size=query.page_size, page_token=query.page_token
        )
    )
    listed = responses.FieldPolicyChangeList(
        changes=[
            responses.FieldPolicyChange(
                field=c.field,
                before=_policy(c.before) if c.HasField("before") else None,
                after=_policy(c.after),
                changed_by=c.changed_by,
                changed_at=c.changed_at,
            )
            for c in reply.changes
        ],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


# --- Mapping -------------------------------------------------------------------------------


def _org_service(message: pb.OrgService) -> responses.OrgService:
    return responses.OrgService(component_id=message.component_id, id=message.id, name=message.name)


def _person(message: pb.Person) -> responses.Person:
    return responses.Person(
        subject=message.subject,
        component_id=message.component_id or None,
        service_id=message.service_id or None,
        level=message.level or None,
        roles=list(message.roles),
    )


def _grant_in(body: schemas.GrantBody) -> pb.Grant:
    return pb.Grant(
        audience=_AUDIENCES[body.audience],
        components=body.components,
        service=body.service or "",
        min_level=body.min_level or "",
        subject=body.subject or "",
    )


def _policy(message: Any) -> responses.FieldPolicy:
    def grant(g: pb.Grant) -> responses.Grant:
        return responses.Grant(
            audience=_AUDIENCE_WORDS.get(g.audience, "owner"),
            components=list(g.components) or None,
            service=g.service or None,
            min_level=g.min_level or None,
            subject=g.subject or None,
        )

    return responses.FieldPolicy(
        field=message.field,
        read=[grant(g) for g in message.read],
        write=[grant(g) for g in message.write],
        aggregate=[grant(g) for g in message.aggregate],
    )
