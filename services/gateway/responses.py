"""What the gateway answers, as pydantic models: the OpenAPI schemas and the JSON come from them.

A field the upstream message does not carry is None here and absent from the
JSON (serialised with exclude_none): the gateway never adds a field the
service left out.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from services.campaigns.lifecycle import CampaignStatus
from services.campaigns.policy import Outcome
from services.campaigns.validation import OverBudget
from services.contacts.imports import Outcome as RowOutcome

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# Inline (no schema of its own), so the document's one `Outcome` is the campaigns' delivery one.
ImportOutcome = Annotated[
    str, WithJsonSchema({"type": "string", "enum": [o.value for o in RowOutcome]})
]


class Health(BaseModel):
    status: Literal["ok"]


class FieldError(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. `attributes[0].key`.")
    description: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(None, description="Field violations, if any.")


class Component(BaseModel):
    id: str
    name: str


class ComponentList(BaseModel):
    components: list[Component]
    next_page_token: str = Field(description="Empty on the last page.")


class FieldValue(BaseModel):
    value: str
    owner_component: str = Field(description="The component that holds this value.")


class Contact(BaseModel):
    """A contact as the caller may see it: values its policies do not let it read are absent."""

    id: str
    kind: Literal["person", "company"]
    fields: dict[str, FieldValue] = Field(
        description="One value per readable field: the caller's component's own when it has "
        "one, else one another component shares with it. `display_name` is derived."
    )
    member_components: list[str]
    etag: str = Field(description="Send it back in If-Match to change the contact.")
    merged_from: str | None = Field(
        None, description="The id asked for, when that contact was merged into this one."
    )


class ContactCreated(BaseModel):
    contact: Contact
    joined_existing: bool


class Left(BaseModel):
    contact_deleted: bool = Field(description="The caller's component was its last member.")


class ContactList(BaseModel):
    contacts: list[Contact]
    next_page_token: str = Field(description="Empty on the last page.")


class ConsentScope(BaseModel):
    """Either `{"grouping": true}` or `{"component_id": ...}`."""

    grouping: Literal[True] | None = None
    component_id: str | None = None


EventKind = Literal[
    "granted", "denied", "withdrawn", "objected", "expired", "revalidated", "confirmed"
]
How = Literal[
    "web_form",
    "import",
    "one_click",
    "preference_page",
    "inbound_mail",
    "phone_agent",
    "staff",
    "revalidation_job",
    "retention_job",
]
Basis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]
ChannelWord = Literal["email", "sms", "phone", "post"]


class ConsentEvent(BaseModel):
    id: str
    contact_id: str
    kind: EventKind | None = None
    channel: ChannelWord | None = Field(None, description="Absent: an objection to every channel.")
    purpose: str = Field(description="Empty for an objection (every marketing purpose).")
    scope: ConsentScope | None = None
    action: Literal["grant", "withdraw"] | None = Field(
        None, description="The first version's word, for grants and withdrawals only."
    )
    legal_basis: Basis | None = None
    actor_subject: str
    actor_component: str
    how: How | None = None
    source: str
    notice_id: str | None = None
    pending: bool = False
    refers_to: str | None = Field(None, description="A confirmation: the grant it confirms.")
    text_shown: str
    recorded_at: Timestamp | None = None


class ConsentStateEntry(BaseModel):
    purpose: str
    channel: ChannelWord | None = None
    scope: ConsentScope | None = None
    allowed: bool
    decision: str = Field(description="consent_given, legitimate_interest, no_consent, ...")
    basis: Basis | None = None
    deciding_event_id: str | None = None


class ConsentState(BaseModel):
    at: Timestamp | None = None
    entries: list[ConsentStateEntry]
    events: list[ConsentEvent]


class ConsentPurpose(BaseModel):
    key: str
    owner_component_id: str | None = None
    label_fr: str
    label_en: str
    channels: list[ChannelWord]
    marketing: bool
    retention_months: int
    active: bool


class ConsentPurposeList(BaseModel):
    purposes: list[ConsentPurpose]
    next_page_token: str = Field(description="Empty on the last page.")


class BasisRule(BaseModel):
    purpose: str
    channel: ChannelWord | None = None
    contact_kind: Literal["consumer", "business"] | None = None
    basis: Basis | None = None


class BasisRuleList(BaseModel):
    rules: list[BasisRule]
    next_page_token: str = Field(description="Empty on the last page.")


class ConsentNotice(BaseModel):
    id: str
    purpose: str
    language: str
    version: int
    text: str
    published_at: Timestamp | None = None
    published_by: str


class ConsentNoticeList(BaseModel):
    notices: list[ConsentNotice]
    next_page_token: str = Field(description="Empty on the last page.")


class ConsentHistory(BaseModel):
    events: list[ConsentEvent]
    next_page_token: str = Field(description="Empty on the last page.")


class Audience(BaseModel):
    """Either `{"contact_ids": [...]}` or `{"all_of_component": true}`."""

    contact_ids: list[str] | None = None
    all_of_component: bool | None = None


class Campaign(BaseModel):
    id: str
    name: str
    owner_component: str
    purpose: str
    subject_template: str
    body_template: str
    audience: Audience | None = None
    status: CampaignStatus | None = Field(
        None,
        description="draft, scheduled, running, paused, done or cancelled.",
    )
    send_at: Timestamp | None = None
    created_by: str
    created_at: Timestamp | None = None
    outcome_counts: dict[Outcome, int] = Field(description="Recipients per outcome code.")
    priority: int | None = Field(None, description="1 to 10; higher wins a contact's last slot.")
    deadline: Timestamp | None = None
    over_budget: OverBudget | None = None
    html_body_template: str | None = Field(None, description="Absent: no HTML part.")


class CampaignList(BaseModel):
    campaigns: list[Campaign]
    next_page_token: str = Field(description="Empty on the last page.")


class TestSendResult(BaseModel):
    """How the test send to the caller's own address ended (a transactional ledger row)."""

    delivery_id: str
    outcome: Outcome = Field(description="sent, unconfirmed, smtp_failed or invalid_address.")
    rule: str
    message_id: str | None = None


class Delivery(BaseModel):
    contact_id: str
    outcome: Outcome = Field(
        description="pending, sent, unconfirmed, deferred, expired, capped, cancelled, "
        "no_consent, withdrawn, not_member, no_email, invalid_address, smtp_failed, duplicate."
    )
    rule: str = Field(
        description="The rule that decided, e.g. `pressure:grouping:3/604800s`, `quiet:hours`."
    )
    decided_at: Timestamp | None = None
    message_id: str | None = None
    deferred_until: Timestamp | None = Field(
        None, description="When deferred: when the pressure policy next allows the mail."
    )


class PreviewRecipient(BaseModel):
    contact_id: str
    outcome: Outcome = Field(
        description="`sent` when it would be mailed now, else the outcome code."
    )
    rule: str = Field(description="The rule that decided.")
    deferred_until: Timestamp | None = None
    email: str | None = Field(None, description="Only when the component may see it.")
    merge_fields: dict[str, str] = Field(
        default_factory=dict, description="The merge fields of the templates the owner may see."
    )


class Preview(BaseModel):
    """A dry run of a draft or scheduled campaign: nothing reserved, nothing written."""

    audience: int = Field(description="Recipients, merged records counted once.")
    counts: dict[Outcome, int] = Field(
        description="Recipients per outcome; on the first page only, and only when the "
        "audience is small enough to count at once (see counts_deferred)."
    )
    recipients: list[PreviewRecipient]
    next_page_token: str = Field(description="Empty on the last page.")
    counts_deferred: bool = Field(
        False,
        description="True on a first page whose audience is too large to count within the "
        "call (CAMPAIGNS_PREVIEW_COUNT_MAX, 2000 by default): counts is empty and the count "
        "has started in the background; GET /v1/campaigns/{id}/reach reads it.",
    )


class Reach(BaseModel):
    """A campaign's counts per outcome over its whole audience, counted in the background."""

    status: Literal["counting", "done", "failed"] | None = Field(
        description="None: never counted yet (a count has just been asked for)."
    )
    audience: int = Field(description="Recipients, merged records counted once (0 until known).")
    evaluated: int = Field(description="Recipients counted so far.")
    counts: dict[Outcome, int] = Field(description="Recipients per outcome, of those counted.")
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = Field(None, description="When the count ended.")
    stale: bool = Field(description="Counted for an earlier version of the campaign.")


class DeliveryList(BaseModel):
    deliveries: list[Delivery]
    next_page_token: str = Field(description="Empty on the last page.")


class Unsubscribed(BaseModel):
    """The answer to a one-click client once the withdrawal is recorded."""

    status: Literal["unsubscribed"]
    purpose: str


# Data protection ---------------------------------------------------------------------------


class MergeConflict(BaseModel):
    """A field both records hold with different values, for one owner (never the values)."""

    field: str
    owner_component: str


class MergeConflictProblem(Problem):
    """409: nothing was merged; send the request again with one choice per conflict."""

    conflicts: list[MergeConflict]


class Merged(BaseModel):
    survivor: Contact


class SensitiveRead(BaseModel):
    subject: str = Field(description="Who read.")
    component: str = Field(description="The component the reader acted for.")
    contact_id: str
    field: str
    route: str = Field(description="The operation that showed the value.")
    read_at: Timestamp


class SensitiveReadList(BaseModel):
    reads: list[SensitiveRead]
    next_page_token: str = Field(description="Empty on the last page.")


class ExportedValue(BaseModel):
    field: str
    owner_component: str
    value: str
    updated_at: Timestamp
    updated_by: str


class ContactChange(BaseModel):
    action: str = Field(description="created, joined, updated, left, merged, rectified, ...")
    subject: str
    component: str | None = None
    fields: list[str]
    at: Timestamp
    detail: dict[str, Any] | None = Field(
        None, description="What a merge did not keep, or the ids it joined."
    )


class ContactExport(BaseModel):
    """Everything held about one contact, every component's values included."""

    id: str
    kind: Literal["person", "company"]
    member_components: list[str]
    values: list[ExportedValue]
    changes: list[ContactChange]
    merged_ids: list[str] = Field(description="Ids merged into this contact.")


class Erased(BaseModel):
    tombstone_id: str = Field(description="The id that remains, as a tombstone.")


# --- Organisation tree, catalogue and field policies (i6-org) ---------------------------------


class OrgService(BaseModel):
    component_id: str
    id: str
    name: str


class Levels(BaseModel):
    levels: list[str] = Field(description="Lowest first.")


class Person(BaseModel):
    subject: str
    component_id: str | None = None
    service_id: str | None = None
    level: str | None = None
    roles: list[str]


class Organisation(BaseModel):
    components: list[Component]
    services: list[OrgService]
    levels: list[str] = Field(description="Lowest first.")
    people: list[Person] = Field(description="Listed for administrators only.")


class FieldDefinition(BaseModel):
    field: str
    type: str
    label_fr: str
    label_en: str
    choices: list[str] | None = None
    component_id: str | None = Field(None, description="The component an attribute belongs to.")
    mergeable: bool


class Catalogue(BaseModel):
    fields: list[FieldDefinition] = Field(description="Core fields first, then attributes.")
    next_page_token: str = Field(description="Empty on the last page.")


class AttributeDefinition(BaseModel):
    component_id: str
    key: str
    type: str
    choices: list[str]
    label_fr: str
    label_en: str


class Grant(BaseModel):
    audience: str
    components: list[str] | None = None
    service: str | None = None
    min_level: str | None = None
    subject: str | None = None


class FieldPolicy(BaseModel):
    field: str
    read: list[Grant]
    write: list[Grant]
    aggregate: list[Grant] = Field(
        default_factory=list, description="Who may use the field in indicators only."
    )


class FieldPolicyList(BaseModel):
    policies: list[FieldPolicy]
    next_page_token: str = Field(description="Empty on the last page.")


class FieldPolicyChange(BaseModel):
    field: str
    before: FieldPolicy | None = Field(None, description="Absent: the field had no policy.")
    after: FieldPolicy
    changed_by: str
    changed_at: Timestamp


class FieldPolicyChangeList(BaseModel):
    changes: list[FieldPolicyChange]
    next_page_token: str


# --- Contact imports -----------------------------------------------------------------------


class ImportProblem(BaseModel):
    column: str = Field(description="The column at fault (never its value).")
    description: str


class ImportRowReport(BaseModel):
    line: int = Field(description="Line of the file where the row starts (the header is 1).")
    outcome: ImportOutcome
    contact_id: str | None = None
    problems: list[ImportProblem] | None = Field(None, description="Why it was rejected.")
    same_as_line: int | None = Field(
        None, description="An earlier line of the same batch (1000 rows) naming the same contact."
    )


class ImportReport(BaseModel):
    import_id: str = Field(description="Send the same file again under this id to resume.")
    dry_run: bool
    last_line: int = Field(description="The last line of the file that was read.")
    totals: dict[ImportOutcome, int] = Field(description="Rows per outcome.")
    rows: list[ImportRowReport]


class ImportStatus(BaseModel):
    import_id: str
    last_line: int = Field(description="Last line of the last applied batch; 0: none yet.")
    counts: dict[ImportOutcome, int] = Field(description="Rows applied per outcome.")


# --- Privacy requests (i7-priv) ----------------------------------------------------------------


class PrivacyStep(BaseModel):
    part: Literal["suppression", "contacts", "consent", "campaigns"]
    status: Literal["pending", "done", "failed"]
    attempts: int
    last_attempt_at: Timestamp | None = None
    last_outcome: str | None = Field(
        None, description="`done`, or the status code of the last refusal or silence."
    )


class PrivacyAuditEntry(BaseModel):
    at: Timestamp
    actor: str = Field(description="Who: the DPO's subject, or `service:consent` for the job.")
    action: Literal["opened", "attempted", "finished", "fetched"]
    part: str | None = None
    outcome: str | None = None


class PrivacyRequest(BaseModel):
    """A privacy request and where it stands (its audit trail on a single read)."""

    id: str
    kind: Literal["access", "erasure", "rectification"]
    contact_id: str | None = Field(None, description="Absent once the contact is erased.")
    status: Literal["open", "in_progress", "done", "failed"]
    opened_at: Timestamp
    deadline: Timestamp = Field(description="One month after `opened_at`.")
    opened_by: str
    finished_at: Timestamp | None = None
    steps: list[PrivacyStep]
    audit: list[PrivacyAuditEntry] | None = None


class PrivacyRequestList(BaseModel):
    requests: list[PrivacyRequest]
    next_page_token: str = Field(description="Empty on the last page.")


class PrivacyExport(BaseModel):
    """An access export: docs/privacy-export.md describes every part."""

    format: Literal["crm-mesh/privacy-export/v1"]
    request: dict[str, Any]
    generated_at: Timestamp
    contact_id: str
    contacts: dict[str, Any]
    consent: dict[str, Any]
    campaigns: dict[str, Any]


# Consent receipts --------------------------------------------------------------------------


class ConsentReceipt(BaseModel):
    """A grant's Kantara Consent Receipt v1.1, exactly as signed, with its compact JWS."""

    receipt_id: str = Field(description="The receipt's `consentReceiptID`.")
    receipt: dict[str, Any] = Field(
        description="The Kantara Consent Receipt v1.1 document (standards/)."
    )
    jws: str = Field(description="Compact JWS (ES256) of the document's canonical JSON.")
    key_id: str = Field(description="`kid` of the key that signed it: see /consent/receipt-keys.")


class JsonWebKeySet(BaseModel):
    """RFC 7517 JSON Web Key Set: the public keys that verify consent receipts."""

    keys: list[dict[str, Any]]
