"""Input checks: every field checked, all violations reported at once, values never echoed.

These checks need nothing but the request; `catalogue_violations` adds those
that read the purposes catalogue and the notices (unknown purpose, a channel
the purpose does not use, a notice of another purpose).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from meshkit.errors import Violations
from services.consent.domain import (
    PURPOSE_KEY_RULE,
    BasisRule,
    BatchQuery,
    Change,
    Channel,
    CheckItem,
    Collection,
    ContactKind,
    EventKind,
    How,
    Language,
    LegalBasis,
    Notice,
    Objection,
    Purpose,
    Scope,
    is_purpose_key,
)
from services.consent.policy import is_person_made

MAX_ID = 64
MAX_SOURCE = 100
MAX_TEXT = 5000
MAX_NOTICE = 20_000
MAX_LABEL = 200
MAX_IP = 45
MAX_USER_AGENT = 512
MAX_BATCH = 10_000
MAX_RETENTION_MONTHS = 240
CHANNELS = ", ".join(c.value for c in Channel)


@dataclass(frozen=True)
class CollectionRequest:
    """How an act came in, as received."""

    how: How | None = None  # None: staff
    source: str = ""
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class ChangeRequest:
    """A grant, denial or withdrawal as received: any field may be missing or wrong."""

    contact_id: str
    channel: Channel | None
    purpose: str
    scope: Scope | None
    legal_basis: LegalBasis | None
    source: str
    text_shown: str
    notice_id: str = ""
    how: How | None = None
    ip: str = ""
    user_agent: str = ""
    pending: bool = False


@dataclass(frozen=True)
class ObjectionRequest:
    contact_id: str
    channel: Channel | None  # None: every channel
    collection: CollectionRequest


@dataclass(frozen=True)
class ConfirmRequest:
    grant_event_id: str
    collection: CollectionRequest


@dataclass(frozen=True)
class RevalidateRequest:
    event_id: str  # the event whose retention cycle the person renews
    collection: CollectionRequest


@dataclass(frozen=True)
class BatchRequest:
    """A CheckBatch as received."""

    component_id: str
    channel: Channel | None
    purpose: str
    contact_ids: list[str] = field(default_factory=list)
    items: list[CheckItem] = field(default_factory=list)


@dataclass(frozen=True)
class PurposeRequest:
    key: str
    owner: str
    label_fr: str
    label_en: str
    channels: list[Channel | None]
    marketing: bool
    retention_months: int


@dataclass(frozen=True)
class RuleRequest:
    purpose: str
    channel: Channel | None
    contact_kind: ContactKind | None
    basis: LegalBasis | None


def valid_change(request: ChangeRequest, kind: EventKind) -> Change:
    """The validated change, or InvalidArgument naming every bad field."""
    violations = Violations()
    _check_contact_id(violations, request.contact_id)
    _check_channel(violations, request.channel)
    _check_purpose(violations, request.purpose)
    if request.scope is None:
        violations.add("scope", "required: set grouping to true, or a component_id")
    elif not request.scope.is_grouping:
        _check_id(violations, "scope.component_id", request.scope.component or "")
    collection = _checked_collection(
        violations, CollectionRequest(request.how, request.source, request.ip, request.user_agent)
    )
    _check_text(violations, "text_shown", request.text_shown, MAX_TEXT, required=False)
    if request.notice_id and not _is_uuid(request.notice_id):
        violations.add("notice_id", "must be the id of a published notice")
    if kind is EventKind.GRANTED and not (request.notice_id or request.text_shown.strip()):
        violations.add("notice_id", "required: the notice version the person saw")
    if request.pending and kind is not EventKind.GRANTED:
        violations.add("pending", "only a grant may wait for a confirmation")
    violations.raise_if_any()
    assert request.channel is not None and request.scope is not None  # checked above
    legal_basis = None
    if kind is EventKind.GRANTED:
        # An unspecified basis is the strictest one: the person's own consent.
        legal_basis = request.legal_basis or LegalBasis.CONSENT
    return Change(
        contact_id=request.contact_id,
        channel=request.channel,
        purpose=request.purpose,
        scope=request.scope,
        legal_basis=legal_basis,
        collection=collection,
        text_shown=request.text_shown or None,
        notice_id=request.notice_id or None,
        pending=request.pending,
    )


def valid_objection(request: ObjectionRequest) -> Objection:
    violations = Violations()
    _check_contact_id(violations, request.contact_id)
    collection = _checked_collection(violations, request.collection)
    violations.raise_if_any()
    return Objection(request.contact_id, request.channel, collection)


def valid_confirmation(request: ConfirmRequest) -> tuple[str, Collection]:
    violations = Violations()
    if not _is_uuid(request.grant_event_id):
        violations.add("grant_event_id", "required: the id of a pending grant")
    collection = _checked_collection(violations, request.collection)
    violations.raise_if_any()
    return request.grant_event_id, collection


def valid_revalidation(request: RevalidateRequest) -> tuple[str, Collection]:
    violations = Violations()
    if not _is_uuid(request.event_id):
        violations.add("event_id", "required: the id of the consent's last positive event")
    collection = _checked_collection(violations, request.collection)
    violations.raise_if_any()
    return request.event_id, collection


def catalogue_violations(
    purpose_key: str,
    channel: Channel,
    purpose: Purpose | None,
    notice: Notice | None = None,
    notice_id: str | None = None,
    *,
    active: bool = False,
) -> None:
    """InvalidArgument when the purpose is unknown (or inactive, when `active` is asked),
    does not use the channel, or the notice named is unknown or of another purpose."""
    violations = Violations()
    if purpose is None:
        violations.add("purpose", "unknown purpose: see ListPurposes")
    elif active and not purpose.active:
        violations.add("purpose", "this purpose is no longer active")
    elif channel not in purpose.channels:
        violations.add("channel", "this purpose does not use this channel")
    if notice_id is not None and (notice is None or notice.purpose != purpose_key):
        violations.add("notice_id", "no notice of this purpose has this id")
    violations.raise_if_any()


def valid_contact_id(contact_id: str) -> str:
    """The contact id, or InvalidArgument."""
    violations = Violations()
    _check_id(violations, "contact_id", contact_id)
    violations.raise_if_any()
    return contact_id


def valid_batch(request: BatchRequest) -> BatchQuery:
    """The validated batch query, or InvalidArgument naming every bad field."""
    violations = Violations()
    _check_id(violations, "component_id", request.component_id)
    _check_channel(violations, request.channel)
    _check_purpose(violations, request.purpose)
    items = [CheckItem(c) for c in request.contact_ids] + list(request.items)
    if len(items) > MAX_BATCH:
        violations.add("items", f"at most {MAX_BATCH} items per call")
    else:
        for index, item in enumerate(items):
            if not _is_id(item.contact_id):  # the field's name is built for a bad one only
                _check_id(violations, f"items[{index}].contact_id", item.contact_id)
    violations.raise_if_any()
    assert request.channel is not None  # checked above
    return BatchQuery(request.component_id, request.channel, request.purpose, items)


def valid_purpose(request: PurposeRequest) -> Purpose:
    """A new purpose of the catalogue (active), or InvalidArgument."""
    violations = Violations()
    _check_purpose(violations, request.key, "key")
    if request.owner:
        _check_id(violations, "owner_component_id", request.owner)
    channels = _checked_channels(violations, request.channels)
    _check_labels(violations, request.label_fr, request.label_en)
    months = request.retention_months or 36
    if not 0 < months <= MAX_RETENTION_MONTHS:
        violations.add("retention_months", f"1 to {MAX_RETENTION_MONTHS} (0: 36)")
    violations.raise_if_any()
    return Purpose(
        key=request.key,
        owner=request.owner or None,
        label_fr=request.label_fr,
        label_en=request.label_en,
        channels=channels,
        marketing=request.marketing,
        retention_months=months,
        active=True,
    )


def valid_update(
    current: Purpose,
    fields: list[str],
    label_fr: str,
    label_en: str,
    channels: list[Channel | None],
    active: bool,
) -> Purpose:
    """The purpose with the named fields changed, or InvalidArgument."""
    violations = Violations()
    allowed = {"label_fr", "label_en", "channels", "active"}
    unknown = [f for f in fields if f not in allowed]
    if not fields or unknown:
        violations.add("fields", "name one or more of: active, channels, label_en, label_fr")
    new_fr = label_fr if "label_fr" in fields else current.label_fr
    new_en = label_en if "label_en" in fields else current.label_en
    _check_labels(violations, new_fr, new_en)
    new_channels = current.channels
    if "channels" in fields:
        new_channels = _checked_channels(violations, channels)
    violations.raise_if_any()
    return Purpose(
        key=current.key,
        owner=current.owner,
        label_fr=new_fr,
        label_en=new_en,
        channels=new_channels,
        marketing=current.marketing,
        retention_months=current.retention_months,
        active=active if "active" in fields else current.active,
    )


def valid_rule(request: RuleRequest) -> BasisRule:
    violations = Violations()
    _check_purpose(violations, request.purpose)
    _check_channel(violations, request.channel)
    if request.contact_kind is None:
        violations.add("contact_kind", "required: consumer or business")
    if request.basis is None:
        violations.add(
            "basis", "required: consent, legitimate_interest, contract or legal_obligation"
        )
    violations.raise_if_any()
    assert request.channel and request.contact_kind and request.basis  # checked above
    return BasisRule(request.purpose, request.channel, request.contact_kind, request.basis)


def valid_notice(purpose: str, language: str, text: str) -> tuple[str, Language, str]:
    violations = Violations()
    _check_purpose(violations, purpose)
    if language not in {lang.value for lang in Language}:
        violations.add("language", "fr or en")
    _check_text(violations, "text", text, MAX_NOTICE, required=True)
    violations.raise_if_any()
    return purpose, Language(language), text


def _checked_collection(violations: Violations, request: CollectionRequest) -> Collection:
    how = request.how or How.STAFF
    _check_text(violations, "source", request.source, MAX_SOURCE, required=True)
    _check_text(violations, "ip", request.ip, MAX_IP, required=False)
    _check_text(violations, "user_agent", request.user_agent, MAX_USER_AGENT, required=False)
    if not is_person_made(how) and (request.ip or request.user_agent):
        violations.add("how", "ip and user_agent are kept only for the person's own acts")
    return Collection(how, request.source, request.ip or None, request.user_agent or None)


def _checked_channels(violations: Violations, channels: list[Channel | None]) -> frozenset[Channel]:
    if not channels or any(c is None for c in channels):
        violations.add("channels", f"one or more of: {CHANNELS}")
        return frozenset()
    return frozenset(c for c in channels if c is not None)


def _check_labels(violations: Violations, label_fr: str, label_en: str) -> None:
    _check_text(violations, "label_fr", label_fr, MAX_LABEL, required=True)
    _check_text(violations, "label_en", label_en, MAX_LABEL, required=True)


def _is_id(value: str) -> bool:
    return bool(value.strip()) and len(value) <= MAX_ID


def _check_id(violations: Violations, field_name: str, value: str) -> None:
    if not value.strip():
        violations.add(field_name, "required")
    elif len(value) > MAX_ID:
        violations.add(field_name, f"at most {MAX_ID} characters")


def _check_contact_id(violations: Violations, value: str) -> None:
    """Consent is written only for ids of the form the contacts service hands out."""
    if not value.strip():
        violations.add("contact_id", "required")
    elif not is_contact_id(value):
        violations.add("contact_id", "must be a contact id (a lower-case UUID)")


def is_contact_id(value: str) -> bool:
    """True for the canonical form of contact ids: a lower-case, hyphenated UUID."""
    return _is_uuid(value)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _check_channel(violations: Violations, channel: Channel | None) -> None:
    if channel is None:
        violations.add("channel", f"required, one of: {CHANNELS}")


def _check_purpose(violations: Violations, purpose: str, field_name: str = "purpose") -> None:
    if not is_purpose_key(purpose):
        violations.add(field_name, f"required, {PURPOSE_KEY_RULE}")


def _check_text(
    violations: Violations, field_name: str, value: str, limit: int, *, required: bool
) -> None:
    if required and not value.strip():
        violations.add(field_name, "required")
    elif len(value) > limit:
        violations.add(field_name, f"at most {limit} characters")
    elif "\x00" in value:
        violations.add(field_name, "must not contain NUL characters")
