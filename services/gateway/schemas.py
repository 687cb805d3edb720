"""Request bodies and query strings the gateway accepts (pydantic v2, strict, closed).

The shape is checked here (types, required fields, enum words), and so are the
rules of the services that a schema can state (lengths, patterns of ids and
purposes, well-formed templates, a send time in range and in the future): the
OpenAPI document then says what the services accept, and bad input is a 400
before any upstream call. The rules are imported from each service's
validation module, never re-typed. What a schema cannot state (an email
address's syntax, a known time zone, who may see what) stays with the service.
Each model carries an example, which the OpenAPI document shows and the tests
validate against the published schema.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from meshkit.fields import ATTRIBUTE_FIELD, CORE_FIELDS
from meshkit.purposes import PURPOSE_KEY
from services.campaigns import validation as campaign_rules
from services.consent import validation as consent_rules
from services.contacts import validation as contact_rules

INT32_MAX = 2**31 - 1


def anchored(rule: re.Pattern[str]) -> str:
    """A service's fullmatch rule as a JSON Schema pattern (which searches, unanchored)."""
    return f"^(?:{rule.pattern})$"


def _escaped(chars: str) -> str:
    r"""Characters as a regex class body of \uXXXX escapes (Python, ECMA-262 and Rust agree)."""
    return "".join(f"\\u{ord(c):04x}" for c in chars)


# What str.strip() removes: a "blank" value is made of these only.
_SPACE = _escaped("".join(chr(c) for c in range(0x3100) if chr(c).isspace()))
_CONTROL = "\\x00-\\x1f\\x7f"  # contacts' names: no control character at all
_CONTROL_BUT_LINES = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"  # attribute values
_NUL = "\\x00"  # PostgreSQL text cannot hold it


def _not_blank(banned: str) -> str:
    """Some character that is not blank, and none of `banned` anywhere."""
    return f"^[^{banned}]*[^{banned}{_SPACE}][^{banned}]*$"


def _without(banned: str) -> str:
    return f"^[^{banned}]*$"


def _blank_refused(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


# Some character that is not blank, for a schema that already has a `pattern` of its own.
_SOME_TEXT = {"allOf": [{"pattern": f"[^{_SPACE}]"}]}

ComponentId = Annotated[
    str,
    Field(
        min_length=2,
        max_length=40,
        pattern=anchored(contact_rules.COMPONENT_ID),
        description="Slug of the component: 2 to 40 of a-z, 0-9 and `-`, e.g. `sciences`.",
    ),
]
ComponentName = Annotated[
    str,
    Field(
        max_length=contact_rules.MAX_NAME,
        pattern=_not_blank(_CONTROL),
        description=f"Display name: 1 to {contact_rules.MAX_NAME} characters, not blank, "
        "no control character.",
    ),
]
Purpose = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=anchored(PURPOSE_KEY),
        description="1 to 64 of a-z, 0-9, `_` and `-`, e.g. `newsletter`.",
    ),
]
ConsentSource = Annotated[
    str,
    Field(
        max_length=consent_rules.MAX_SOURCE,
        pattern=_not_blank(_NUL),
        description="Where it was collected, e.g. `web-form` (not blank).",
    ),
]
ConsentText = Annotated[
    str,
    Field(
        max_length=consent_rules.MAX_TEXT,
        pattern=_not_blank(_NUL),
        description="The text the person was shown (not blank).",
    ),
]
OptionalConsentText = Annotated[
    str, Field(max_length=consent_rules.MAX_TEXT, pattern=_without(_NUL))
]
CampaignName = Annotated[
    str,
    Field(
        max_length=campaign_rules.MAX_NAME,
        pattern=_not_blank(_NUL),
        description=f"1 to {campaign_rules.MAX_NAME} characters, not blank.",
    ),
]
AudienceContactId = Annotated[
    str, Field(min_length=1, max_length=campaign_rules.MAX_CONTACT_ID, pattern=_without(_NUL))
]
AudienceIds = Annotated[
    list[AudienceContactId], Field(min_length=1, max_length=campaign_rules.MAX_AUDIENCE)
]
_TEMPLATE = (
    "1 to {limit} characters, not blank; merge fields as `{{{{ first_name }}}}` "
    "(contact fields or `attr.<key>`); `{{{{` opens nothing else."
)
SubjectTemplate = Annotated[
    str,
    Field(
        min_length=1,
        max_length=campaign_rules.MAX_SUBJECT,
        pattern=campaign_rules.TEMPLATE_PATTERN,
        description=_TEMPLATE.format(limit=campaign_rules.MAX_SUBJECT),
        json_schema_extra=_SOME_TEXT,
    ),
    AfterValidator(_blank_refused),
]
BodyTemplate = Annotated[
    str,
    Field(
        min_length=1,
        max_length=campaign_rules.MAX_BODY,
        pattern=campaign_rules.TEMPLATE_PATTERN,
        description=_TEMPLATE.format(limit=campaign_rules.MAX_BODY),
        json_schema_extra=_SOME_TEXT,
    ),
    AfterValidator(_blank_refused),
]


def _integral(value: Any) -> Any:
    """JSON Schema's `integer` admits 7.0: take it as 7 (the model stays strict otherwise)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer of a strict model that also takes the 7.0 JSON Schema calls an integer.
WholeNumber = Annotated[int, BeforeValidator(_integral)]


CampaignPriority = Annotated[
    int,
    Field(
        ge=campaign_rules.MIN_PRIORITY,
        le=campaign_rules.MAX_PRIORITY,
        description=f"{campaign_rules.MIN_PRIORITY} to {campaign_rules.MAX_PRIORITY}: of two "
        "campaigns after a contact's last slot, the higher wins. Absent on create: "
        f"{campaign_rules.DEFAULT_PRIORITY}.",
    ),
    BeforeValidator(_integral),
]


OverBudgetWord = Annotated[
    Literal["defer", "drop"],
    Field(
        description="A recipient over the pressure budget: `defer` (the default) waits for the "
        "first slot allowed before the deadline; `drop` is `capped` at once."
    ),
]
HtmlBodyTemplate = Annotated[
    str,
    Field(
        max_length=campaign_rules.MAX_HTML_BODY,
        pattern=campaign_rules.TEMPLATE_PATTERN,
        description="Optional HTML part, same merge fields as the text body (values are "
        "escaped); empty: no HTML part.",
    ),
]


Kind = Literal["person", "company"]
Channel = Literal["email", "sms", "phone", "post"]
ScopeWord = Literal["component", "grouping"]
LegalBasis = Literal["consent", "legitimate_interest"]
RuleBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]
ContactKind = Literal["consumer", "business"]
NoticeId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="A published notice version (GET /v1/consent/purposes/<key>/notices).",
    ),
]
Label = Annotated[
    str,
    Field(
        max_length=consent_rules.MAX_LABEL,
        pattern=_not_blank(_NUL),
        description="1 to 200 characters, not blank.",
    ),
]


def _closed(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [example]})


def _closed_with_proof(example: dict[str, Any]) -> ConfigDict:
    """A grant: closed, and naming the notice shown (or, legacy, the text shown)."""
    proof: list[Any] = [{"required": ["notice_id"]}, {"required": ["text_shown"]}]
    return ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [example], "anyOf": proof}
    )


class NewComponent(BaseModel):
    """A component of the grouping (admin only)."""

    model_config = _closed({"id": "sciences", "name": "Faculté des sciences"})

    id: ComponentId
    name: ComponentName


# A field id of the catalogue: a core field, or a component's attribute `<component>.<key>`.
FIELD_ID_PATTERN = (
    "^(?:" + "|".join([*(f.name for f in CORE_FIELDS), ATTRIBUTE_FIELD.pattern]) + ")$"
)

FieldId = Annotated[
    str,
    Field(
        pattern=FIELD_ID_PATTERN,
        description="A core field (`first_name`, `email`, ...) or `<component>.<key>`.",
    ),
]
FieldText = Annotated[
    str,
    Field(
        max_length=contact_rules.MAX_TEXT,
        pattern=_not_blank(_CONTROL_BUT_LINES),
        description="The value as text, checked by the field's type (numbers, dates, E.164 "
        "phones...). Line breaks only where a field is long text.",
    ),
]


class NewContact(BaseModel):
    """A person or company, with the caller's component's values; a known address joins."""

    model_config = _closed(
        {
            "kind": "person",
            "fields": {
                "email": "ada@example.org",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "sciences.promo": "2012",
            },
        }
    )

    kind: Kind
    fields: dict[FieldId, FieldText] = Field(
        max_length=contact_rules.MAX_FIELDS,
        description="A person needs an email address or a phone; a company an `organisation`.",
    )


class ContactPatch(BaseModel):
    """New values of the caller's component (JSON merge patch: `null` removes a value)."""

    model_config = _closed({"fields": {"job_title": "Directrice", "phone": None}})

    fields: dict[FieldId, FieldText | None] = Field(
        min_length=1, max_length=contact_rules.MAX_FIELDS
    )


class SearchFilter(BaseModel):
    """One condition of a contact search: `equals`, or a range (`min`, `max`, both inclusive)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    field: str = Field(min_length=1, max_length=120, description="A field id of the catalogue.")
    equals: str | None = Field(None, max_length=contact_rules.MAX_TEXT)
    min: str | None = Field(None, max_length=contact_rules.MAX_NAME)
    max: str | None = Field(None, max_length=contact_rules.MAX_NAME)

    @model_validator(mode="after")
    def _one_condition(self) -> SearchFilter:
        ranged = self.min is not None or self.max is not None
        if (self.equals is None) == (not ranged):
            raise PydanticCustomError("filter", "give `equals`, or `min` and/or `max`")
        return self


def _json_text(value: Any) -> Any:
    """The JSON text of a query parameter, parsed (a 400 naming the parameter otherwise)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise PydanticCustomError("filters_json", "must be a JSON array of filters") from None


_FILTERS_EXAMPLE = (
    '[{"field":"sciences.budget","min":"1000"},{"field":"first_name","equals":"Ada"}]'
)
SearchFilters = Annotated[
    list[SearchFilter],
    BeforeValidator(_json_text),
    Field(max_length=contact_rules.MAX_FILTERS),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 20_000,
            "examples": [_FILTERS_EXAMPLE],
        }
    ),
]


class Page(BaseModel):
    """Pagination of a list; every query value arrives as text, hence lax types."""

    model_config = ConfigDict(extra="forbid")

    page_size: int = Field(
        0,
        ge=0,
        le=INT32_MAX,
        description="0: the list's default; more than the list's maximum is the maximum.",
    )
    page_token: str = Field(
        "",
        max_length=1024,
        # The shape of meshkit.page_tokens' tokens; whether one was issued, no schema can say.
        pattern=r"^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16})?$",
        description="`next_page_token` of the previous page of the same list and query "
        '(also in the `Link` header, `rel="next"`).',
    )


class ReachQuery(BaseModel):
    """Whether to count a campaign's reach again; query values arrive as text."""

    model_config = ConfigDict(extra="forbid")

    refresh: bool = Field(False, description="Count again even when the snapshot is current.")


class ContactSearch(Page):
    """Which contacts to list; every query value arrives as text, hence lax types."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = Field(None, description="Only persons, or only companies.")
    member_of: ComponentId | None = Field(
        None, description="For a caller without a component (admin): whose contacts."
    )
    updated_since: str = Field(
        "",
        max_length=64,
        description="Only contacts changed at or after this RFC 3339 date-time, "
        "e.g. `2025-01-31T08:00:00Z`.",
    )
    filters: SearchFilters = Field(
        default_factory=list,
        description="A JSON array of conditions, all of which must hold: "
        '`{"field": "<id>", "equals": "<value>"}`, or `{"field": "<id>", "min": "<value>", '
        '"max": "<value>"}` (a range, bounds inclusive, either one optional) for number and '
        "date fields. A condition holds when one value of the field the caller may read "
        "matches; numbers compare by value, dates as `YYYY-MM-DD`. A field the caller may not "
        "read, and a field that does not exist, are refused alike.",
    )


class ConsentGrant(BaseModel):
    """A consent collected from the contact, with its proof."""

    model_config = _closed_with_proof(
        {
            "channel": "email",
            "purpose": "newsletter",
            "scope": "component",
            "legal_basis": "consent",
            "source": "web-form",
            "notice_id": "0b6c7f7e-5d1a-4f0e-9a53-2f6f3c1d8e42",
        }
    )

    channel: Channel
    purpose: Purpose
    scope: ScopeWord = Field(description="`component` means the caller's own component.")
    legal_basis: LegalBasis | None = Field(None, description="Absent: consent.")
    source: ConsentSource
    notice_id: NoticeId | None = Field(
        None, description="The notice version the person saw (required unless text_shown)."
    )
    text_shown: ConsentText | None = Field(
        None, description="Legacy: the wording shown, when no notice was published."
    )
    pending: bool = Field(
        False,
        description="Double opt-in: allow nothing until the person confirms through the "
        "signed link consent mails them (valid 7 days).",
    )

    @model_validator(mode="after")
    def _proof(self) -> ConsentGrant:
        if self.notice_id is None and self.text_shown is None:
            raise PydanticCustomError("missing", "notice_id (or text_shown) is required")
        return self


class ConsentDenial(BaseModel):
    """The person refused when asked."""

    model_config = _closed(
        {"channel": "email", "purpose": "newsletter", "scope": "component", "source": "phone"}
    )

    channel: Channel
    purpose: Purpose
    scope: ScopeWord = Field(description="`component` means the caller's own component.")
    source: ConsentSource


class ConsentObjection(BaseModel):
    """Art. 21: no direct marketing at all, from any component (staff: dpo role)."""

    model_config = _closed({"source": "letter", "channel": "email"})

    channel: Channel | None = Field(None, description="Absent: every channel.")
    source: ConsentSource


class ConsentStateQuery(BaseModel):
    """The time to answer for."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(None, description="RFC 3339 with its offset; absent: now.")
    professional_address: bool = Field(
        False, description="Read the basis rules for a business contact at a work address."
    )


class NewPurpose(BaseModel):
    """A purpose of the catalogue (admin)."""

    model_config = _closed(
        {
            "key": "doctoral_school",
            "label_fr": "École doctorale",
            "label_en": "Doctoral school",
            "channels": ["email", "post"],
            "marketing": True,
        }
    )

    key: Purpose
    owner_component_id: str | None = Field(None, max_length=64, description="Absent: grouping.")
    label_fr: Label
    label_en: Label
    channels: list[Channel] = Field(min_length=1)
    marketing: bool = True
    retention_months: WholeNumber = Field(36, ge=1, le=consent_rules.MAX_RETENTION_MONTHS)


class PurposeChange(BaseModel):
    """The fields to change (admin); absent ones stay."""

    model_config = _closed({"active": False})

    label_fr: Label | None = None
    label_en: Label | None = None
    channels: list[Channel] | None = Field(None, min_length=1)
    active: bool | None = None


class PurposesQuery(Page):
    model_config = ConfigDict(extra="forbid")

    include_inactive: bool = False


class BasisRuleBody(BaseModel):
    """The legal basis of a purpose for a channel and kind of contact (admin)."""

    model_config = _closed(
        {
            "purpose": "newsletter",
            "channel": "email",
            "contact_kind": "business",
            "basis": "legitimate_interest",
        }
    )

    purpose: Purpose
    channel: Channel
    contact_kind: ContactKind
    basis: RuleBasis


class NewNotice(BaseModel):
    """A new notice version (admin): earlier versions stay as they were."""

    model_config = _closed({"language": "fr", "text": "J'accepte de recevoir la lettre."})

    language: Literal["fr", "en"]
    text: str = Field(
        max_length=consent_rules.MAX_NOTICE, pattern=_not_blank(_NUL), description="Not blank."
    )


class ConsentWithdrawal(BaseModel):
    """A withdrawal: as easy as the grant, proof optional."""

    model_config = _closed(
        {"channel": "email", "purpose": "newsletter", "scope": "grouping", "source": "phone-call"}
    )

    channel: Channel
    purpose: Purpose
    scope: ScopeWord = Field(description="`component` means the caller's own component.")
    source: ConsentSource
    text_shown: OptionalConsentText | None = None


def _absent_by_default(schema: dict[str, Any]) -> None:
    """No `default: null` in the document: the field is absent, never null."""
    schema.pop("default", None)


def _future_and_in_range(value: datetime) -> datetime:
    """`value` in UTC; out of the range a timestamp holds, or not in the future: a 400."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "must be between year 1 and year 9999 in UTC"
        ) from None
    if utc <= datetime.now(UTC):
        raise PydanticCustomError("datetime_future", "must be in the future")
    return utc


Deadline = Annotated[
    AwareDatetime,
    AfterValidator(_future_and_in_range),
    Field(
        description="RFC 3339 with an offset; in the future and after the planned start. A "
        "recipient not reached by then is `expired`.",
        json_schema_extra={"format": "date-time"},
    ),
]


class AudienceInput(BaseModel):
    """Exactly one of: a list of contact ids, or every contact of the owner component."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": [{"required": ["contact_ids"]}, {"required": ["all_of_component"]}],
            "examples": [{"contact_ids": ["c-1", "c-2"]}, {"all_of_component": True}],
        },
    )

    # Absent, not null: the document offers no null (an explicit one is refused as "not one of").
    contact_ids: Annotated[
        AudienceIds | None, WithJsonSchema(TypeAdapter(AudienceIds).json_schema())
    ] = Field(None, json_schema_extra=_absent_by_default)
    all_of_component: Annotated[
        Literal[True] | None, WithJsonSchema({"type": "boolean", "const": True})
    ] = Field(None, json_schema_extra=_absent_by_default)

    @model_validator(mode="after")
    def _exactly_one(self) -> AudienceInput:
        if (self.contact_ids is None) == (self.all_of_component is None):
            raise PydanticCustomError(
                "audience", "give exactly one of contact_ids or all_of_component"
            )
        return self


class NewCampaign(BaseModel):
    """A draft mailing of the caller's component."""

    model_config = _closed(
        {
            "name": "Rentrée 2025",
            "purpose": "newsletter",
            "subject_template": "Bonjour {{ first_name }}",
            "body_template": "La rentrée approche, {{ first_name }}.",
            "audience": {"all_of_component": True},
        }
    )

    name: CampaignName
    purpose: Purpose = Field(
        description="A purpose of consent's catalogue (GET /v1/consent/purposes) that is "
        "active and uses the `email` channel; any other is a 400 naming `purpose`."
    )
    subject_template: SubjectTemplate
    body_template: BodyTemplate
    audience: AudienceInput
    priority: CampaignPriority | None = Field(None, json_schema_extra=_absent_by_default)
    deadline: Deadline | None = Field(None, json_schema_extra=_absent_by_default)
    over_budget: OverBudgetWord | None = Field(None, json_schema_extra=_absent_by_default)
    html_body_template: HtmlBodyTemplate | None = Field(None, json_schema_extra=_absent_by_default)


class Schedule(BaseModel):
    """When a campaign is to be sent."""

    model_config = _closed({"send_at": "2099-09-01T08:00:00Z"})

    send_at: Annotated[AwareDatetime, AfterValidator(_future_and_in_range)] = Field(
        description="RFC 3339 with an offset, e.g. `...Z`; must be in the future, and between "
        "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z once converted to UTC.",
        json_schema_extra={"format": "date-time"},
    )


class SendNow(BaseModel):
    """No options yet: an empty body or `{}`."""

    model_config = _closed({})


class CampaignChanges(BaseModel):
    """A change of a draft or scheduled campaign: only the fields given change.

    `deadline: null` removes the deadline; `html_body_template: ""` the HTML part.
    """

    model_config = _closed({"name": "Rentrée 2025 (v2)", "priority": 8, "deadline": None})

    name: CampaignName | None = Field(None, json_schema_extra=_absent_by_default)
    purpose: Purpose | None = Field(None, json_schema_extra=_absent_by_default)
    subject_template: SubjectTemplate | None = Field(None, json_schema_extra=_absent_by_default)
    body_template: BodyTemplate | None = Field(None, json_schema_extra=_absent_by_default)
    audience: AudienceInput | None = Field(None, json_schema_extra=_absent_by_default)
    priority: CampaignPriority | None = Field(None, json_schema_extra=_absent_by_default)
    deadline: Deadline | None = Field(
        None, description="null removes the deadline; absent keeps it."
    )
    over_budget: OverBudgetWord | None = Field(None, json_schema_extra=_absent_by_default)
    html_body_template: HtmlBodyTemplate | None = Field(None, json_schema_extra=_absent_by_default)

    @property
    def clears_deadline(self) -> bool:
        return "deadline" in self.model_fields_set and self.deadline is None


class LifecycleStep(BaseModel):
    """Unschedule, pause, resume or cancel: no options, an empty body or `{}`."""

    model_config = _closed({})


class TestSend(BaseModel):
    """A test send to the caller's own address (the token's `email` claim)."""

    model_config = _closed({"sample_contact_id": "c-1"})

    sample_contact_id: AudienceContactId | None = Field(
        None,
        description="A contact of the caller's component whose fields fill the merge fields "
        "(as the component sees them); absent: the merge fields are empty.",
        json_schema_extra=_absent_by_default,
    )


class UnsubscribeForm(BaseModel):
    """RFC 8058 one-click body (`List-Unsubscribe=One-Click`) or the confirmation page's form."""

    # Mail providers may add fields of their own; only ours are read.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"List-Unsubscribe": "One-Click"}, {"confirm": "yes"}]},
    )

    list_unsubscribe: Literal["One-Click"] | None = Field(None, alias="List-Unsubscribe")
    confirm: Literal["yes"] | None = Field(None, description="Sent by the confirmation page.")

    @model_validator(mode="after")
    def _one_of_ours(self) -> UnsubscribeForm:
        if self.list_unsubscribe is None and self.confirm is None:
            raise PydanticCustomError(
                "one_click", "expected List-Unsubscribe=One-Click or the page's confirm=yes"
            )
        return self

    @property
    def from_page(self) -> bool:
        """True when a person confirmed on our page (answer HTML), not a mail client."""
        return self.confirm is not None


class PreferencesQuery(BaseModel):
    """The language of a preference page, and whether it follows a save."""

    model_config = ConfigDict(extra="ignore")  # links may gain tracking parameters on the way

    lang: Literal["fr", "en"] | None = Field(
        None, description="fr or en; default: the browser's Accept-Language, else fr."
    )
    saved: bool = Field(False, description="Say that the last form was recorded.")


class PreferencesForm(BaseModel):
    """The preference page's form: the keys of the boxes left ticked (none: every box empty)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"keep": ["grouping|newsletter|email"], "shown": ["", "x|events|email"]}]
        },
    )

    keep: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list,
        max_length=1000,
        description="Repeated: one value per ticked box, as the page wrote it.",
    )
    shown: list[Annotated[str, Field(max_length=300)]] | None = Field(
        None,
        max_length=1000,
        description="Repeated: the boxes the page showed ticked (first an empty value). "
        "Absent: every box counts as changed where it differs from the current state.",
    )


class ObjectionForm(BaseModel):
    """The preference page's "nothing more from the whole university" button."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"object": "yes"}]})

    object: Literal["yes"] | None = Field(None, description="Sent by the page's button.")


# Data protection ---------------------------------------------------------------------------

# The ids contacts hands out: uuid4 strings, lower case (contact_rules.is_contact_id).
CONTACT_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ContactIdText = Annotated[
    str, Field(pattern=CONTACT_ID_PATTERN, description="A contact id (a UUID, lower case).")
]


class MergeChoice(BaseModel):
    """For one conflict: keep the merged-away record's value (true) or the survivor's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    field: FieldId
    owner_component: ComponentId
    keep_merged: bool


class MergeRequest(BaseModel):
    """The record merged into the one named in the path, and a choice per conflict."""

    model_config = _closed(
        {
            "merged_id": "0b6f2c1e-5d7a-4c3e-9f1a-2b3c4d5e6f70",
            "choices": [
                {"field": "first_name", "owner_component": "sciences", "keep_merged": True}
            ],
        }
    )

    merged_id: ContactIdText
    choices: list[MergeChoice] = Field(
        default_factory=list,
        max_length=2 * contact_rules.MAX_FIELDS,
        description="One per conflict a first attempt listed (409); none when there is none.",
    )


class SensitiveReadsQuery(Page):
    """Which reads to list; every query value arrives as text, hence lax types."""

    contact_id: ContactIdText | None = Field(None, description="Only the reads of this contact.")


class Rectification(BaseModel):
    """Values held by one component, corrected by the grouping's DPO (`null` removes one)."""

    model_config = _closed({"owner_component": "sciences", "fields": {"last_name": "Dupont"}})

    owner_component: ComponentId
    fields: dict[FieldId, FieldText | None] = Field(
        min_length=1, max_length=contact_rules.MAX_FIELDS
    )


# --- Organisation tree, catalogue and field policies (i6-org) ---------------------------------

Slug = Annotated[
    str,
    Field(
        min_length=2,
        max_length=40,
        pattern=anchored(contact_rules.COMPONENT_ID),
        description="2 to 40 characters among a-z, 0-9 and -.",
    ),
]
PersonRole = Literal[
    "viewer", "contact_editor", "campaign_manager", "dpo", "communication", "admin"
]
AttributeType = Literal["text", "number", "date", "boolean", "enum"]
AudienceWord = Literal["owner", "members", "components", "grouping"]
Subject = Annotated[
    str, Field(min_length=1, max_length=200, pattern=_without(_CONTROL), description="A `sub`.")
]
ShortText = Annotated[str, Field(max_length=contact_rules.MAX_NAME, pattern=_without(_CONTROL))]


class NewOrgService(BaseModel):
    """A service inside a component (admin only)."""

    model_config = _closed({"id": "relations-entreprises", "name": "Relations entreprises"})

    id: Slug
    name: ComponentName


class LevelsBody(BaseModel):
    """The hierarchy levels, lowest first (admin only); replaces the current ones."""

    model_config = _closed({"levels": ["agent", "manager", "director"]})

    levels: list[Slug] = Field(max_length=20)


class PersonBody(BaseModel):
    """A person's place in the organisation and roles (admin only); replaces the current one."""

    model_config = _closed(
        {
            "component_id": "sciences",
            "service_id": "relations-entreprises",
            "level": "manager",
            "roles": ["contact_editor"],
        }
    )

    component_id: Slug | None = Field(None, description="Absent: a grouping-level person.")
    service_id: Slug | None = None
    level: Slug | None = None
    roles: list[PersonRole] = Field(default_factory=list, max_length=10)


class AttributeBody(BaseModel):
    """A component's attribute (admin only): its type may change only while no value is held."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"type": "enum", "choices": ["or", "argent"], "label_fr": "Niveau"},
            ],
            # What the service checks: an enum names its choices, other types have none.
            "if": {"properties": {"type": {"const": "enum"}}},
            "then": {
                "required": ["choices"],
                "properties": {"choices": {"minItems": 1, "uniqueItems": True}},
            },
            "else": {"properties": {"choices": {"maxItems": 0}}},
        },
    )

    type: AttributeType
    choices: list[ComponentName] = Field(default_factory=list, max_length=contact_rules.MAX_CHOICES)
    label_fr: ShortText = ""
    label_en: ShortText = ""


class GrantBody(BaseModel):
    """One way to be allowed; every condition that is set must hold."""

    model_config = _closed({"audience": "components", "components": ["droit"]})

    audience: AudienceWord
    components: list[Slug] = Field(default_factory=list, max_length=100)
    service: Slug | None = None
    min_level: Slug | None = None
    subject: Subject | None = None


class PolicyBody(BaseModel):
    """Who reads, writes and aggregates one field (admin only); an empty list allows nobody.

    `aggregate` (optional, default none): who may use the field in indicators only, without
    reading a value; whoever may read a value may aggregate it too.
    """

    model_config = _closed(
        {
            "read": [{"audience": "owner"}, {"audience": "members"}],
            "write": [{"audience": "owner"}],
            "aggregate": [{"audience": "grouping"}],
        }
    )

    read: list[GrantBody] = Field(max_length=50)
    write: list[GrantBody] = Field(max_length=50)
    aggregate: list[GrantBody] = Field(default_factory=list, max_length=50)


class PolicyChangesQuery(Page):
    """Which policy changes to list, newest first."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field("", max_length=120, description="Only this field's changes; empty: all.")


# --- Contact imports -----------------------------------------------------------------------


class ContactImportQuery(BaseModel):
    """Options of an upload (also accepted as form fields of a multipart upload)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = Field(None, description="Required (here or as a form field).")
    import_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="Names the import: the same file sent again under the same id resumes "
        "it (batches already applied are not applied twice). Default: a new id.",
    )
    dry_run: bool = Field(False, description="Decide and report every row, write nothing.")


# --- Privacy requests (i7-priv) ----------------------------------------------------------------

PrivacyKind = Literal["access", "erasure", "rectification"]
PrivacyStatus = Literal["open", "in_progress", "done", "failed"]


class NewPrivacyRequest(BaseModel):
    """A request the grouping's DPO opens for a person: `rectification` only with that kind."""

    model_config = _closed(
        {"kind": "erasure", "contact_id": "3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b"}
    )

    kind: PrivacyKind = Field(
        description="`access` (and portability: one JSON document), `erasure`, or "
        "`rectification` (forwarded to contacts)."
    )
    contact_id: ContactIdText
    rectification: Rectification | None = Field(
        None, description="The corrected values (rectification only; `null` removes one)."
    )

    @model_validator(mode="after")
    def _rectification_with_its_kind(self) -> NewPrivacyRequest:
        if (self.kind == "rectification") != (self.rectification is not None):
            raise PydanticCustomError(
                "rectification", "a rectification request, and only one, carries `rectification`"
            )
        return self


class PrivacyRequestsQuery(Page):
    """Which requests to list, newest first."""

    contact_id: ContactIdText | None = Field(
        None, description="Only the requests about this contact (erased ones included)."
    )
    status: PrivacyStatus | None = Field(None, description="Only the requests in this status.")
