"""Proto messages of the organisation tree, catalogue and policies, to and from the domain."""

from __future__ import annotations

from meshkit.fields import FieldType
from meshkit.organisation import Person
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.organisation import (
    FieldDefinition,
    Organisation,
    OrgService,
    PolicyChange,
)
from services.contacts.policy import Audience, FieldPolicy, Grant
from services.contacts.validation import AttributeSpec

_TYPES = {
    FieldType.TEXT: pb.FIELD_TYPE_TEXT,
    FieldType.NUMBER: pb.FIELD_TYPE_NUMBER,
    FieldType.DATE: pb.FIELD_TYPE_DATE,
    FieldType.BOOLEAN: pb.FIELD_TYPE_BOOLEAN,
    FieldType.ENUM: pb.FIELD_TYPE_ENUM,
    FieldType.EMAIL: pb.FIELD_TYPE_EMAIL,
    FieldType.PHONE: pb.FIELD_TYPE_PHONE,
    FieldType.TIME_ZONE: pb.FIELD_TYPE_TIME_ZONE,
    FieldType.LANGUAGE: pb.FIELD_TYPE_LANGUAGE,
    FieldType.CONTACT: pb.FIELD_TYPE_CONTACT,
}
_TYPES_IN = {number: kind for kind, number in _TYPES.items()}
_AUDIENCES = {
    Audience.OWNER: pb.AUDIENCE_OWNER,
    Audience.MEMBERS: pb.AUDIENCE_MEMBERS,
    Audience.COMPONENTS: pb.AUDIENCE_COMPONENTS,
    Audience.GROUPING: pb.AUDIENCE_GROUPING,
}
_AUDIENCES_IN = {number: audience for audience, number in _AUDIENCES.items()}


def org_service_message(service: OrgService) -> pb.OrgService:
    return pb.OrgService(component_id=service.component_id, id=service.id, name=service.name)


def person_of(message: pb.Person) -> Person:
    return Person(
        message.subject,
        message.component_id or None,
        message.service_id or None,
        message.level or None,
        frozenset(message.roles),
    )


def person_message(person: Person) -> pb.Person:
    return pb.Person(
        subject=person.subject,
        component_id=person.component or "",
        service_id=person.service or "",
        level=person.level or "",
        roles=sorted(person.roles),
    )


def organisation_message(tree: Organisation) -> pb.Organisation:
    return pb.Organisation(
        components=[pb.Component(id=i, name=n) for i, n in tree.components],
        services=[org_service_message(s) for s in tree.services],
        levels=list(tree.levels),
        people=[person_message(p) for p in tree.people],
    )


def catalogue_message(fields: list[FieldDefinition], next_page_token: str = "") -> pb.Catalogue:
    return pb.Catalogue(
        fields=[
            pb.FieldDefinition(
                field=f.field,
                type=_TYPES[f.type],
                label_fr=f.label_fr,
                label_en=f.label_en,
                choices=list(f.choices),
                component_id=f.component_id,
                mergeable=f.mergeable,
            )
            for f in fields
        ],
        next_page_token=next_page_token,
    )


def attribute_spec_of(message: pb.AttributeDefinition) -> AttributeSpec:
    """The declaration; an unspecified or unknown type reads as none (refused by validation)."""
    kind = _TYPES_IN.get(message.type)  # type: ignore[call-overload]
    return AttributeSpec(
        message.component_id,
        message.key,
        kind if kind is not None else FieldType.CONTACT,  # not an attribute type: refused
        tuple(message.choices),
        message.label_fr,
        message.label_en,
    )


def attribute_message(spec: AttributeSpec) -> pb.AttributeDefinition:
    return pb.AttributeDefinition(
        component_id=spec.component_id,
        key=spec.key,
        type=_TYPES[spec.type],
        choices=list(spec.choices),
        label_fr=spec.label_fr,
        label_en=spec.label_en,
    )


def grant_of(message: pb.Grant) -> Grant | None:
    """The grant, or None when its audience is unspecified or unknown."""
    audience = _AUDIENCES_IN.get(message.audience)  # type: ignore[call-overload]
    if audience is None:
        return None
    return Grant(
        audience,
        frozenset(message.components),
        message.service or None,
        message.min_level or None,
        message.subject or None,
    )


def grant_message(grant: Grant) -> pb.Grant:
    return pb.Grant(
        audience=_AUDIENCES[grant.audience],
        components=sorted(grant.components),
        service=grant.service or "",
        min_level=grant.min_level or "",
        subject=grant.subject or "",
    )


def policy_message(policy: FieldPolicy) -> pb.FieldPolicy:
    return pb.FieldPolicy(
        field=policy.field,
        read=[grant_message(g) for g in policy.read],
        write=[grant_message(g) for g in policy.write],
        aggregate=[grant_message(g) for g in policy.aggregate],
    )


def change_message(change: PolicyChange) -> pb.FieldPolicyChange:
    message = pb.FieldPolicyChange(
        field=change.field,
        after=policy_message(change.after),
        changed_by=change.changed_by,
        changed_at=change.changed_at.isoformat().replace("+00:00", "Z"),
    )
    if change.before is not None:
        message.before.CopyFrom(policy_message(change.before))
    return message
