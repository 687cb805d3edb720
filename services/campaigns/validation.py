"""What a new campaign must look like before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from meshkit.errors import Violations
from meshkit.fields import ATTRIBUTE_FIELD
from meshkit.purposes import PURPOSE_KEY_RULE, is_purpose_key
from services.campaigns import policy
from services.campaigns.policy import TemplateError, parse_template

# PostgreSQL text cannot hold NUL: refused here, as bad input, rather than failing the write.
NUL = "\x00"
MAX_NAME = 200
MAX_SUBJECT = 300
MAX_BODY = 100_000
MAX_AUDIENCE = 100_000
MAX_CONTACT_ID = 64
MAX_CAMPAIGN_ID = 64


def _template_pattern() -> str:
    """A regular expression (JSON Schema / ECMA-262 subset) that only well-formed templates match.

    Text without `{{`, a single `{`, or `{{ field }}` naming a known merge field;
    it is stricter than parse_template (e.g. `{{{ first_name }}` is refused), never looser.
    """
    names = "|".join(sorted(policy.CONTACT_FIELDS))
    attribute = ATTRIBUTE_FIELD.pattern  # <component>.<key>
    placeholder = r"\{\{[ \t]*(?:" + names + "|" + attribute + r")[ \t]*\}\}"
    return r"^(?:[^{\x00]|\{[^{\x00]|\{$|" + placeholder + ")*$"


# What the gateway's schema publishes for subject and body templates (see _check_template).
TEMPLATE_PATTERN = _template_pattern()


class AudienceKind(StrEnum):
    CONTACT_IDS = "contact_ids"
    ALL_OF_COMPONENT = "all_of_component"


@dataclass(frozen=True)
class Audience:
    """Either the listed contacts, or every contact of the owner component."""

    kind: AudienceKind
    contact_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Draft:
    """A campaign as its manager asked for it."""

    name: str
    purpose: str
    subject_template: str
    body_template: str
    audience: Audience | None


def validated(draft: Draft) -> Draft:
    """The draft with its audience deduplicated; InvalidArgument naming every bad field."""
    violations = Violations()
    if not draft.name.strip() or len(draft.name) > MAX_NAME:
        violations.add("name", f"must be 1 to {MAX_NAME} characters, not blank")
    elif NUL in draft.name:
        violations.add("name", "must not contain NUL characters")
    if not is_purpose_key(draft.purpose):
        violations.add("purpose", f"must be {PURPOSE_KEY_RULE}")
    _check_template(violations, "subject_template", draft.subject_template, MAX_SUBJECT)
    _check_template(violations, "body_template", draft.body_template, MAX_BODY)
    audience = _checked_audience(violations, draft.audience)
    violations.raise_if_any()
    return Draft(draft.name, draft.purpose, draft.subject_template, draft.body_template, audience)


def check_campaign_id(field: str, campaign_id: str) -> None:
    """An id a caller sent: present and of sane length (unknown ids are not_member later)."""
    violations = Violations()
    if not campaign_id or len(campaign_id) > MAX_CAMPAIGN_ID or NUL in campaign_id:
        violations.add(field, f"must be 1 to {MAX_CAMPAIGN_ID} characters, without NUL")
    violations.raise_if_any()


def _check_template(violations: Violations, field: str, text: str, limit: int) -> None:
    if not text.strip() or len(text) > limit:
        violations.add(field, f"must be 1 to {limit} characters, not blank")
        return
    if NUL in text:
        violations.add(field, "must not contain NUL characters")
        return
    try:
        parse_template(text)
    except TemplateError as error:
        violations.add(field, str(error))


def _checked_audience(violations: Violations, audience: Audience | None) -> Audience | None:
    if audience is None:
        violations.add("audience", "set contact_ids or all_of_component")
        return None
    if audience.kind is AudienceKind.ALL_OF_COMPONENT:
        return audience
    ids = audience.contact_ids
    if not ids or len(ids) > MAX_AUDIENCE:
        violations.add("audience.contact_ids.ids", f"must hold 1 to {MAX_AUDIENCE} ids")
        return None
    for index, contact_id in enumerate(ids):
        if not contact_id or len(contact_id) > MAX_CONTACT_ID or NUL in contact_id:
            violations.add(
                f"audience.contact_ids.ids[{index}]",
                f"must be 1 to {MAX_CONTACT_ID} characters, without NUL",
            )
            if len(violations.items) >= 20:  # enough to fix the input; keep the error small
                break
    return Audience(AudienceKind.CONTACT_IDS, tuple(dict.fromkeys(ids)))
