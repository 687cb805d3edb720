"""Request bodies and query strings the gateway accepts (pydantic v2, strict, closed).

Only the shape is checked here (types, required fields, enum words): unknown or
mistyped fields are a 400. What the values mean is for each service to decide.
Each model carries an example, which the OpenAPI document shows and the tests
validate against the published schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

INT32_MAX = 2**31 - 1

Kind = Literal["person", "company"]
Visibility = Literal["grouping", "members", "owner"]
Channel = Literal["email", "sms", "phone", "post"]
ScopeWord = Literal["component", "grouping"]
LegalBasis = Literal["consent", "legitimate_interest"]


def _closed(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [example]})


class NewComponent(BaseModel):
    """A component of the grouping (admin only)."""

    model_config = _closed({"id": "sciences", "name": "Faculté des sciences"})

    id: str = Field(description="Slug of the component, e.g. `sciences`.")
    name: str = Field(description="Display name.")


class NewAttribute(BaseModel):
    """An attribute written by the caller's component."""

    model_config = _closed({"key": "taxe_apprentissage", "value": "12000", "visibility": "owner"})

    key: str
    value: str
    visibility: Visibility | None = Field(
        None, description="Who may read it besides its owner; absent: owner only (deny by default)."
    )


class NewContact(BaseModel):
    """A person or company; a known email joins the caller's component to the existing record."""

    model_config = _closed(
        {
            "kind": "person",
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "time_zone": "Europe/Paris",
            "attributes": [{"key": "promo", "value": "2012", "visibility": "members"}],
        }
    )

    kind: Kind
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organisation: str | None = None
    phone: str | None = None
    time_zone: str | None = Field(None, description="IANA name; the service defaults it.")
    attributes: list[NewAttribute] = Field(default_factory=list)


class AttributeUpdate(BaseModel):
    """The new value of one attribute owned by the caller's component."""

    model_config = _closed({"value": "15000", "visibility": "owner"})

    value: str
    visibility: Visibility | None = Field(None, description="Absent: the owner-only default.")


class ConsentGrant(BaseModel):
    """A consent collected from the contact, with its proof."""

    model_config = _closed(
        {
            "channel": "email",
            "purpose": "newsletter",
            "scope": "component",
            "legal_basis": "consent",
            "source": "web-form",
            "text_shown": "I agree to receive the faculty newsletter.",
        }
    )

    channel: Channel
    purpose: str
    scope: ScopeWord = Field(description="`component` means the caller's own component.")
    legal_basis: LegalBasis | None = Field(None, description="Absent: consent.")
    source: str
    text_shown: str


class ConsentWithdrawal(BaseModel):
    """A withdrawal: as easy as the grant, proof optional."""

    model_config = _closed(
        {"channel": "email", "purpose": "newsletter", "scope": "grouping", "source": "phone-call"}
    )

    channel: Channel
    purpose: str
    scope: ScopeWord = Field(description="`component` means the caller's own component.")
    source: str
    text_shown: str | None = None


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

    contact_ids: list[str] | None = None
    all_of_component: Literal[True] | None = None

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

    name: str
    purpose: str
    subject_template: str = Field(description="Merge fields as `{{ first_name }}`.")
    body_template: str
    audience: AudienceInput


class Schedule(BaseModel):
    """When a campaign is to be sent."""

    model_config = _closed({"send_at": "2025-09-01T08:00:00Z"})

    send_at: AwareDatetime = Field(description="RFC 3339 with an offset, e.g. `...Z`.")


class SendNow(BaseModel):
    """No options yet: an empty body or `{}`."""

    model_config = _closed({})


class Page(BaseModel):
    """Pagination of a list; every query value arrives as text, hence lax types."""

    model_config = ConfigDict(extra="forbid")

    page_size: int = Field(0, ge=0, le=INT32_MAX, description="0: the service's default.")
    page_token: str = Field("", description="`next_page_token` of the previous page.")


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
