"""Request models to gRPC messages, and gRPC messages to response models.

Outbound, only fields present in the message are copied: proto3 optional
fields are read with HasField, so a field the service withheld stays absent.
Enum values travel as lower-case words (`CONTACT_KIND_PERSON` <-> `person`).
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from meshkit.unsubscribe import UnsubscribeRequest
from protos.crm.campaigns.v1 import campaigns_pb2
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.campaigns.lifecycle import CampaignStatus
from services.campaigns.validation import OverBudget
from services.gateway import responses, schemas
from services.gateway.inputs import Requester

ONE_CLICK_SOURCE = "one-click-unsubscribe"


def _word(enum: Any, prefix: str, value: int) -> Any:
    """`CONTACT_KIND_PERSON` -> `person`; the unset zero value -> None (absent)."""
    if value == 0:
        return None
    return enum.Name(value).removeprefix(prefix).lower()


def _value(enum: Any, prefix: str, word: str | None) -> Any:
    """`person` -> `CONTACT_KIND_PERSON`; None -> the zero value."""
    return 0 if word is None else int(enum.Value(prefix + word.upper()))


def _time(message: Any, name: str) -> str | None:
    return message_time(getattr(message, name)) if message.HasField(name) else None


def message_time(timestamp: Timestamp) -> str:
    """RFC 3339 in UTC, e.g. `2025-09-01T08:00:00Z`."""
    return timestamp.ToJsonString()


def _optional(message: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(message, name) for name in names if message.HasField(name)}


# Contacts


def component(message: contacts_pb2.Component) -> responses.Component:
    return responses.Component(id=message.id, name=message.name)


def new_component(body: schemas.NewComponent) -> contacts_pb2.CreateComponentRequest:
    return contacts_pb2.CreateComponentRequest(id=body.id, name=body.name)


def new_contact(body: schemas.NewContact) -> contacts_pb2.CreateContactRequest:
    return contacts_pb2.CreateContactRequest(
        kind=_value(contacts_pb2.ContactKind, "CONTACT_KIND_", body.kind), fields=body.fields
    )


def contact_patch(
    contact_id: str, etag: str, body: schemas.ContactPatch
) -> contacts_pb2.UpdateContactRequest:
    """A merge patch: a value sets the field, null clears it."""
    return contacts_pb2.UpdateContactRequest(
        id=contact_id,
        etag=etag,
        set={name: value for name, value in body.fields.items() if value is not None},
        clear=[name for name, value in body.fields.items() if value is None],
    )


def contact_search(query: schemas.ContactSearch) -> contacts_pb2.SearchContactsRequest:
    return contacts_pb2.SearchContactsRequest(
        member_of=query.member_of or "",
        kind=_value(contacts_pb2.ContactKind, "CONTACT_KIND_", query.kind),
        updated_since=query.updated_since,
        filters=[_field_filter(f) for f in query.filters],
        page_size=query.page_size,
        page_token=query.page_token,
    )


def _field_filter(item: schemas.SearchFilter) -> contacts_pb2.FieldFilter:
    if item.equals is not None:
        return contacts_pb2.FieldFilter(field=item.field, equals=item.equals)
    bounds = contacts_pb2.Range(min=item.min or "", max=item.max or "")
    return contacts_pb2.FieldFilter(field=item.field, range=bounds)


def contact(message: contacts_pb2.Contact) -> responses.Contact:
    return responses.Contact(
        id=message.id,
        kind=_word(contacts_pb2.ContactKind, "CONTACT_KIND_", message.kind),
        fields={
            name: responses.FieldValue(value=v.value, owner_component=v.owner_component)
            for name, v in sorted(message.fields.items())
        },
        member_components=list(message.member_components),
        etag=message.etag,
        merged_from=message.merged_from or None,
    )


def _scope(word: str, caller_component: str) -> consent_pb2.Scope:
    if word == "grouping":
        return consent_pb2.Scope(grouping=True)
    return consent_pb2.Scope(component_id=caller_component)


def consent_grant(
    contact_id: str, body: schemas.ConsentGrant, caller_component: str
) -> consent_pb2.ConsentChange:
    return consent_pb2.ConsentChange(
        contact_id=contact_id,
        channel=_value(consent_pb2.Channel, "CHANNEL_", body.channel),
        purpose=body.purpose,
        scope=_scope(body.scope, caller_component),
        legal_basis=_value(consent_pb2.LegalBasis, "LEGAL_BASIS_", body.legal_basis),
        source=body.source,
        text_shown=body.text_shown or "",
        notice_id=body.notice_id or "",
        how=consent_pb2.HOW_STAFF,
        pending=body.pending,
    )


def consent_denial(
    contact_id: str, body: schemas.ConsentDenial, caller_component: str
) -> consent_pb2.ConsentChange:
    return consent_pb2.ConsentChange(
        contact_id=contact_id,
        channel=_value(consent_pb2.Channel, "CHANNEL_", body.channel),
        purpose=body.purpose,
        scope=_scope(body.scope, caller_component),
        source=body.source,
        how=consent_pb2.HOW_STAFF,
    )


def consent_objection(
    contact_id: str, body: schemas.ConsentObjection
) -> consent_pb2.ObjectionRequest:
    return consent_pb2.ObjectionRequest(
        contact_id=contact_id,
        channel=_value(consent_pb2.Channel, "CHANNEL_", body.channel),
        how=consent_pb2.HOW_STAFF,
        source=body.source,
    )


def consent_withdrawal(
    contact_id: str, body: schemas.ConsentWithdrawal, caller_component: str
) -> consent_pb2.ConsentChange:
    return consent_pb2.ConsentChange(
        contact_id=contact_id,
        channel=_value(consent_pb2.Channel, "CHANNEL_", body.channel),
        purpose=body.purpose,
        scope=_scope(body.scope, caller_component),
        source=body.source,
        text_shown=body.text_shown or "",
    )


def one_click_withdrawal(
    link: UnsubscribeRequest, requester: Requester
) -> consent_pb2.ConsentChange:
    """The withdrawal an unsubscribe link stands for: email, its purpose, the whole grouping.

    The person made it: their IP address and user agent go with it as proof.
    """
    return consent_pb2.ConsentChange(
        contact_id=link.contact_id,
        channel=consent_pb2.CHANNEL_EMAIL,
        purpose=link.purpose,
        scope=consent_pb2.Scope(grouping=True),
        how=consent_pb2.HOW_ONE_CLICK,
        source=ONE_CLICK_SOURCE,
        text_shown=f"Unsubscribe link in a message of campaign {link.campaign_id}",
        ip=requester.ip,
        user_agent=requester.user_agent,
    )


def _consent_scope(message: Any) -> responses.ConsentScope | None:
    if not message.HasField("scope"):
        return None
    kind = message.scope.WhichOneof("kind")
    if kind == "grouping":
        return responses.ConsentScope(grouping=True)
    if kind == "component_id":
        return responses.ConsentScope(component_id=message.scope.component_id)
    return None


def consent_event(message: consent_pb2.ConsentEvent) -> responses.ConsentEvent:
    """An event as the gateway shows it: the person's IP address and user agent stay
    in the consent service (proof on request), never in a listing."""
    return responses.ConsentEvent(
        id=message.id,
        contact_id=message.contact_id,
        kind=_word(consent_pb2.EventKind, "EVENT_KIND_", message.kind),
        channel=_word(consent_pb2.Channel, "CHANNEL_", message.channel),
        purpose=message.purpose,
        scope=_consent_scope(message),
        action=_word(consent_pb2.Action, "ACTION_", message.action),
        legal_basis=_word(consent_pb2.LegalBasis, "LEGAL_BASIS_", message.legal_basis),
        actor_subject=message.actor_subject,
        actor_component=message.actor_component,
        how=_word(consent_pb2.How, "HOW_", message.how),
        source=message.source,
        notice_id=message.notice_id or None,
        pending=message.pending,
        refers_to=message.refers_to or None,
        text_shown=message.text_shown,
        recorded_at=_time(message, "recorded_at"),
    )


def consent_state(message: consent_pb2.GetStateResponse, at: str | None) -> responses.ConsentState:
    return responses.ConsentState(
        at=at,
        entries=[
            responses.ConsentStateEntry(
                purpose=e.purpose,
                channel=_word(consent_pb2.Channel, "CHANNEL_", e.channel),
                scope=_consent_scope(e),
                allowed=e.allowed,
                decision=_word(consent_pb2.Decision, "DECISION_", e.decision) or "",
                basis=_word(consent_pb2.LegalBasis, "LEGAL_BASIS_", e.basis),
                deciding_event_id=e.deciding_event_id or None,
            )
            for e in message.entries
        ],
        events=[consent_event(e) for e in message.events],
    )


def consent_purpose(message: consent_pb2.Purpose) -> responses.ConsentPurpose:
    return responses.ConsentPurpose(
        key=message.key,
        owner_component_id=message.owner_component_id or None,
        label_fr=message.label_fr,
        label_en=message.label_en,
        channels=[_word(consent_pb2.Channel, "CHANNEL_", c) for c in message.channels],
        marketing=message.marketing,
        retention_months=message.retention_months,
        active=message.active,
    )


def new_purpose(body: schemas.NewPurpose) -> consent_pb2.Purpose:
    return consent_pb2.Purpose(
        key=body.key,
        owner_component_id=body.owner_component_id or "",
        label_fr=body.label_fr,
        label_en=body.label_en,
        channels=[_value(consent_pb2.Channel, "CHANNEL_", c) for c in body.channels],
        marketing=body.marketing,
        retention_months=body.retention_months,
    )


def purpose_change(key: str, body: schemas.PurposeChange) -> consent_pb2.UpdatePurposeRequest:
    named = body.model_dump(exclude_none=True)
    return consent_pb2.UpdatePurposeRequest(
        key=key,
        fields=sorted(named),
        label_fr=body.label_fr or "",
        label_en=body.label_en or "",
        channels=[_value(consent_pb2.Channel, "CHANNEL_", c) for c in body.channels or []],
        active=bool(body.active),
    )


def basis_rule(message: consent_pb2.BasisRule) -> responses.BasisRule:
    return responses.BasisRule(
        purpose=message.purpose,
        channel=_word(consent_pb2.Channel, "CHANNEL_", message.channel),
        contact_kind=_word(consent_pb2.ContactKind, "CONTACT_KIND_", message.contact_kind),
        basis=_word(consent_pb2.LegalBasis, "LEGAL_BASIS_", message.basis),
    )


def basis_rule_message(body: schemas.BasisRuleBody) -> consent_pb2.BasisRule:
    return consent_pb2.BasisRule(
        purpose=body.purpose,
        channel=_value(consent_pb2.Channel, "CHANNEL_", body.channel),
        contact_kind=_value(consent_pb2.ContactKind, "CONTACT_KIND_", body.contact_kind),
        basis=_value(consent_pb2.LegalBasis, "LEGAL_BASIS_", body.basis),
    )


def consent_notice(message: consent_pb2.Notice) -> responses.ConsentNotice:
    return responses.ConsentNotice(
        id=message.id,
        purpose=message.purpose,
        language=message.language,
        version=message.version,
        text=message.text,
        published_at=_time(message, "published_at"),
        published_by=message.published_by,
    )


# Campaigns


def consent_receipt(message: consent_pb2.ConsentReceipt) -> responses.ConsentReceipt:
    """The receipt with its document parsed: the JWS signs exactly `receipt_json`'s bytes."""
    return responses.ConsentReceipt(
        receipt_id=message.receipt_id,
        receipt=json.loads(message.receipt_json),
        jws=message.jws,
        key_id=message.key_id,
    )


def _campaign_audience(body: schemas.AudienceInput) -> campaigns_pb2.Audience:
    if body.contact_ids is not None:
        return campaigns_pb2.Audience(contact_ids=campaigns_pb2.ContactIds(ids=body.contact_ids))
    return campaigns_pb2.Audience(all_of_component=True)


def _stamp(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)  # aware datetimes are converted to UTC
    return stamp


def _over_budget(word: str | None) -> Any:
    return _value(campaigns_pb2.OverBudget, "OVER_BUDGET_", word)


def new_campaign(body: schemas.NewCampaign) -> campaigns_pb2.CreateCampaignRequest:
    request = campaigns_pb2.CreateCampaignRequest(
        name=body.name,
        purpose=body.purpose,
        subject_template=body.subject_template,
        body_template=body.body_template,
        audience=_campaign_audience(body.audience),
        priority=body.priority or 0,
        over_budget=_over_budget(body.over_budget),
        html_body_template=body.html_body_template or "",
    )
    if body.deadline is not None:
        request.deadline.CopyFrom(_stamp(body.deadline))
    return request


def campaign_changes(
    campaign_id: str, body: schemas.CampaignChanges
) -> campaigns_pb2.UpdateCampaignRequest:
    """Only the fields the body gives are set: the service changes those alone."""
    request = campaigns_pb2.UpdateCampaignRequest(
        id=campaign_id,
        clear_deadline=body.clears_deadline,
        over_budget=_over_budget(body.over_budget),
    )
    for name in ("name", "purpose", "subject_template", "body_template", "html_body_template"):
        value = getattr(body, name)
        if value is not None:
            setattr(request, name, value)
    if body.priority is not None:
        request.priority = body.priority
    if body.audience is not None:
        request.audience.CopyFrom(_campaign_audience(body.audience))
    if body.deadline is not None:
        request.deadline.CopyFrom(_stamp(body.deadline))
    return request


def test_send(message: campaigns_pb2.SendTestCampaignResponse) -> responses.TestSendResult:
    return responses.TestSendResult(
        delivery_id=message.delivery_id,
        outcome=message.outcome,
        rule=message.rule,
        message_id=message.message_id or None,
    )


def schedule(campaign_id: str, body: schemas.Schedule) -> campaigns_pb2.ScheduleCampaignRequest:
    send_at = Timestamp()
    send_at.FromDatetime(body.send_at)  # aware datetimes are converted to UTC
    return campaigns_pb2.ScheduleCampaignRequest(id=campaign_id, send_at=send_at)


def _audience(message: campaigns_pb2.Audience) -> responses.Audience | None:
    kind = message.WhichOneof("kind")
    if kind == "contact_ids":
        return responses.Audience(contact_ids=list(message.contact_ids.ids))
    if kind == "all_of_component":
        return responses.Audience(all_of_component=message.all_of_component)
    return None


def campaign(message: campaigns_pb2.Campaign) -> responses.Campaign:
    return responses.Campaign(
        id=message.id,
        name=message.name,
        owner_component=message.owner_component,
        purpose=message.purpose,
        subject_template=message.subject_template,
        body_template=message.body_template,
        audience=_audience(message.audience) if message.HasField("audience") else None,
        status=_enum(
            CampaignStatus, campaigns_pb2.CampaignStatus, "CAMPAIGN_STATUS_", message.status
        ),
        send_at=_time(message, "send_at"),
        created_by=message.created_by,
        created_at=_time(message, "created_at"),
        outcome_counts=dict(message.outcome_counts),
        priority=message.priority or None,
        deadline=_time(message, "deadline"),
        over_budget=_enum(
            OverBudget, campaigns_pb2.OverBudget, "OVER_BUDGET_", message.over_budget
        ),
        html_body_template=message.html_body_template or None,
    )


def _enum(words: Any, enum: Any, prefix: str, value: int) -> Any:
    """A proto enum value as the service's own StrEnum member; unset -> None (absent)."""
    word = _word(enum, prefix, value)
    return None if word is None else words(word)


def delivery(message: campaigns_pb2.Delivery) -> responses.Delivery:
    return responses.Delivery(
        contact_id=message.contact_id,
        outcome=message.outcome,
        rule=message.rule,
        decided_at=_time(message, "decided_at"),
        message_id=message.message_id or None,  # set only once sent
        deferred_until=_time(message, "deferred_until"),
    )


def reach(reply: campaigns_pb2.Reach) -> responses.Reach:
    return responses.Reach(
        status=reply.status or None,  # type: ignore[arg-type]
        audience=reply.audience,
        evaluated=reply.evaluated,
        counts=dict(reply.counts),
        started_at=_time(reply, "started_at"),
        finished_at=_time(reply, "finished_at"),
        stale=reply.stale,
    )


def preview(reply: campaigns_pb2.PreviewCampaignResponse) -> responses.Preview:
    return responses.Preview(
        audience=reply.audience,
        counts=dict(reply.counts),
        recipients=[
            responses.PreviewRecipient(
                contact_id=r.contact_id,
                outcome=r.outcome,
                rule=r.rule,
                deferred_until=_time(r, "deferred_until"),
                email=r.email or None,
                merge_fields=dict(r.merge_fields),
            )
            for r in reply.recipients
        ],
        next_page_token=reply.next_page_token,
        counts_deferred=reply.counts_deferred,
    )
