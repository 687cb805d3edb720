"""What a new campaign must look like before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum

from meshkit.addresses import is_valid_address
from meshkit.errors import Violations, invalid
from meshkit.fields import ATTRIBUTE_FIELD, COMPONENT_ID
from meshkit.purposes import PURPOSE_KEY_RULE, is_purpose_key
from services.campaigns import policy
from services.campaigns.policy import CataloguePurpose, TemplateError, parse_template

# PostgreSQL text cannot hold NUL: refused here, as bad input, rather than failing the write.
NUL = "\x00"
MAX_NAME = 200
MAX_SUBJECT = 300
MAX_BODY = 100_000
MAX_AUDIENCE = 100_000
MAX_CONTACT_ID = 64
MAX_CAMPAIGN_ID = 64
MAX_HTML_BODY = 200_000
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 1, 10, 5


def check_catalogued(purpose: CataloguePurpose | None) -> None:
    """InvalidArgument naming `purpose` when a new campaign may not use it."""
    refusal = policy.purpose_refusal(purpose)
    if refusal is not None:
        raise invalid("purpose", refusal)


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


class OverBudget(StrEnum):
    """What happens to a recipient the pressure budget has no slot for now."""

    DEFER = "defer"  # waits for the first slot the policy allows before the deadline
    DROP = "drop"  # dropped at once, outcome `capped`


@dataclass(frozen=True)
class Draft:
    """A campaign as its manager asked for it."""

    name: str
    purpose: str
    subject_template: str
    body_template: str
    audience: Audience | None
    priority: int = DEFAULT_PRIORITY  # of two campaigns after one last slot, the higher wins
    deadline: datetime | None = None
    over_budget: OverBudget = OverBudget.DEFER
    html_body_template: str = ""  # "": no HTML part


@dataclass(frozen=True)
class CampaignEdit:
    """The changes a manager asks for: None (or False) leaves a field as it is."""

    name: str | None = None
    purpose: str | None = None
    subject_template: str | None = None
    body_template: str | None = None
    audience: Audience | None = None
    priority: int | None = None
    deadline: datetime | None = None
    clear_deadline: bool = False
    over_budget: OverBudget | None = None
    html_body_template: str | None = None  # "": remove the HTML part

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) in (None, False) for f in fields(self))


def edited(current: Draft, edit: CampaignEdit) -> Draft:
    """`current` with the edit applied, not yet validated.

    InvalidArgument when the edit asks for a deadline and its removal at once.
    """
    if edit.clear_deadline and edit.deadline is not None:
        raise invalid("deadline", "give a deadline or clear_deadline, not both")
    changes = {
        f.name: getattr(edit, f.name)
        for f in fields(edit)
        if f.name != "clear_deadline" and getattr(edit, f.name) is not None
    }
    if edit.clear_deadline:
        changes["deadline"] = None
    return replace(current, **changes)


def check_deadline(violations: Violations, deadline: datetime | None, after: datetime) -> None:
    """A deadline must leave time to send: later than `after` (now, or the planned start)."""
    if deadline is not None and deadline <= after:
        violations.add("deadline", "must be after the planned start and after now")


def validated(draft: Draft, now: datetime | None = None, send_at: datetime | None = None) -> Draft:
    """The draft with its audience deduplicated; InvalidArgument naming every bad field.

    With `now`, the deadline must be after it and after `send_at` (the planned start).
    """
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
    if not MIN_PRIORITY <= draft.priority <= MAX_PRIORITY:
        violations.add("priority", f"must be {MIN_PRIORITY} to {MAX_PRIORITY}")
    if now is not None:
        check_deadline(violations, draft.deadline, max(now, send_at or now))
    if draft.html_body_template:
        _check_template(violations, "html_body_template", draft.html_body_template, MAX_HTML_BODY)
    violations.raise_if_any()
    return replace(draft, audience=audience)


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


# --- Transactional mail --------------------------------------------------------------------

MAX_IDEMPOTENCY_KEY = 200
MAX_HTML = 200_000
MAX_HEADER_VALUE = 900
_KEY = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces


@dataclass(frozen=True)
class TransactionalMail:
    """A transactional mail as its sender asked for it."""

    idempotency_key: str
    contact_id: str
    kind: str
    subject: str
    text_body: str
    component_id: str = ""
    to: str = ""
    html_body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    purpose: str = ""
    list_unsubscribe: bool = False


def validated_transactional(mail: TransactionalMail) -> TransactionalMail:
    """The mail with its kind and header names canonical; InvalidArgument naming every bad field.

    Descriptions never quote a value: an address or a body is personal data.
    """
    problems = Violations()
    if not _KEY.fullmatch(mail.idempotency_key):
        problems.add(
            "idempotency_key",
            f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, without spaces",
        )
    if not mail.contact_id or len(mail.contact_id) > MAX_CONTACT_ID or NUL in mail.contact_id:
        problems.add("contact_id", f"must be 1 to {MAX_CONTACT_ID} characters, without NUL")
    if mail.kind not in {k.value for k in policy.TransactionalKind}:
        known = ", ".join(k.value for k in policy.TransactionalKind)
        problems.add("kind", f"must be one of {known}")
    subject = mail.subject
    if not subject.strip() or len(subject) > MAX_SUBJECT or _breaks_line(subject):
        problems.add("subject", f"must be 1 to {MAX_SUBJECT} characters on one line")
    if not mail.text_body.strip() or len(mail.text_body) > MAX_BODY or NUL in mail.text_body:
        problems.add("text_body", f"must be 1 to {MAX_BODY} characters, not blank, without NUL")
    if len(mail.html_body) > MAX_HTML or NUL in mail.html_body:
        problems.add("html_body", f"must be at most {MAX_HTML} characters, without NUL")
    if mail.component_id and not COMPONENT_ID.fullmatch(mail.component_id):
        problems.add("component_id", "must be a component id: 2 to 40 characters a-z, 0-9, -")
    if mail.to and not is_valid_address(mail.to):
        problems.add("to", "is not a valid email address")
    if not mail.to and not mail.component_id:
        problems.add("component_id", "is required unless `to` is given")
    if mail.purpose and not is_purpose_key(mail.purpose):
        problems.add("purpose", f"must be {PURPOSE_KEY_RULE}")
    if mail.list_unsubscribe and not mail.purpose:
        problems.add("purpose", "is required with list_unsubscribe")
    headers = _checked_headers(problems, mail.headers)
    problems.raise_if_any()
    return replace(mail, headers=headers)


def _checked_headers(
    problems: Violations, headers: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    checked: list[tuple[str, str]] = []
    for name, value in headers:
        canonical = policy.SAFE_TRANSACTIONAL_HEADERS.get(name.lower())
        field = f"headers[{name[:40]}]"
        if canonical is None:
            allowed = ", ".join(policy.SAFE_TRANSACTIONAL_HEADERS.values())
            problems.add(field, f"is not a header a sender may set (allowed: {allowed})")
        elif not value.strip() or len(value) > MAX_HEADER_VALUE or _breaks_line(value):
            problems.add(field, f"must be 1 to {MAX_HEADER_VALUE} characters on one line")
        elif canonical == "Reply-To" and not is_valid_address(value):
            problems.add(field, "is not a valid email address")
        else:
            checked.append((canonical, value))
    return tuple(checked)


def _breaks_line(text: str) -> bool:
    # A line break in a header value would add a header of the caller's choice.
    return any(c in text for c in "\r\n\x00") or len(text.splitlines()) > 1
