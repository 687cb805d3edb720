"""The rules of campaigns, in plain Python: readable by a data-protection officer.

- Purposes: which purposes of consent's catalogue a new campaign may name.
- Outcomes: why each recipient of a campaign was (or was not) reached, and the
  rule that decided it.
- Merge fields: which contact fields a mail may quote. A field the sending
  component may not see is simply absent from what contacts gives us, and
  renders as nothing; it is never fetched any other way.
- Pressure: see pressure_policy.py (the rules) and pressure.py (the counters).
- Transactional mail: who may send a mail that asks no consent and counts
  against no budget, and what it may carry.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from meshkit.fields import CORE_FIELDS, DISPLAY_NAME, split_attribute

# --- Purposes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CataloguePurpose:
    """What campaigns needs to know of a purpose of consent's catalogue."""

    key: str
    active: bool
    channels: frozenset[str]  # "email", "sms", "phone", "post"


def purpose_refusal(purpose: CataloguePurpose | None) -> str | None:
    """Why a new campaign may not name this purpose (None: it may). Campaigns send email."""
    if purpose is None:
        return "is not a purpose of the consent catalogue"
    if not purpose.active:
        return "is no longer active in the consent catalogue"
    if "email" not in purpose.channels:
        return "does not use the email channel"
    return None


# --- Outcomes ------------------------------------------------------------------------------


class Outcome(StrEnum):
    """The fate of one (campaign, contact) in the ledger."""

    PENDING = "pending"
    SENT = "sent"  # the relay answered that it took the mail
    # The mail may have left, but no reply from the relay says so: never sent again.
    UNCONFIRMED = "unconfirmed"
    # Also an id that names no contact: a manager cannot tell the two apart, so cannot probe ids.
    NOT_MEMBER = "not_member"
    NO_EMAIL = "no_email"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    CAPPED = "capped"
    INVALID_ADDRESS = "invalid_address"
    SMTP_FAILED = "smtp_failed"
    # The same person is listed again under the id they were merged into: one mail only.
    DUPLICATE = "duplicate"
    # Over the pressure budget (or in quiet hours) now: waits for the first slot the
    # policy allows before the campaign's deadline, then leaves on its own.
    DEFERRED = "deferred"
    # The campaign's deadline passed before a slot was free: never sent.
    EXPIRED = "expired"
    # The campaign was cancelled before this recipient's mail left.
    CANCELLED = "cancelled"


class MessageClass(StrEnum):
    """What a ledger row is: a campaign's marketing mail, or a transactional one."""

    # Counts against the marketing-pressure budget; needs consent or legitimate interest.
    MARKETING = "marketing"
    # A mail the person needs whatever their consent (e.g. the confirmation of a consent):
    # exempt from the pressure budget, sent only for the callers policy allows.
    TRANSACTIONAL = "transactional"


class Reachability(StrEnum):
    """What contacts says about the sending component and a contact."""

    OK = "ok"
    NOT_MEMBER = "not_member"  # or no such contact: contacts answers both alike
    NO_EMAIL = "no_email"


class ConsentDecision(StrEnum):
    """What consent says about email for the campaign's purpose and component."""

    CONSENT_GIVEN = "consent_given"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    NO_CONSENT = "no_consent"
    PENDING = "pending"  # granted, not yet confirmed (double opt-in)
    DENIED = "denied"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    OBJECTED = "objected"  # Art. 21: no marketing from any component
    SUPPRESSED = "suppressed"  # the address objected or was erased, under any record


# The decisions that name a basis for sending; the ones that say the person said no.
SENDING_BASES = frozenset(
    {
        ConsentDecision.CONSENT_GIVEN,
        ConsentDecision.LEGITIMATE_INTEREST,
        ConsentDecision.CONTRACT,
        ConsentDecision.LEGAL_OBLIGATION,
    }
)
TAKEN_BACK = frozenset(
    {ConsentDecision.WITHDRAWN, ConsentDecision.OBJECTED, ConsentDecision.SUPPRESSED}
)


RULE_MEMBERSHIP = "membership"
RULE_ADDRESS = "address:syntax"
# Consent refused the check itself: the campaign's purpose is no longer in its catalogue
# for email (the purpose's email channel was removed after the campaign was created).
# Retrying cannot help: the recipients are decided `no_consent` under this rule.
RULE_UNKNOWN_PURPOSE = "consent:unknown_purpose"
# Why a mail is unconfirmed. The relay had the whole mail (end of DATA sent), then its
# reply never came: timeout or connection lost (RFC 1047 "Duplicate messages and SMTP").
RULE_REPLY_LOST = "smtp:reply_lost"
# The worker died during the send: nobody knows how far the SMTP conversation went.
RULE_WORKER_LOST = "smtp:worker_lost"

# A mail that may have reached the contact uses a pressure slot, whether confirmed or not.
COUNTED_BY_PRESSURE = frozenset({Outcome.SENT, Outcome.UNCONFIRMED})


def membership_outcome(reachability: Reachability) -> Outcome | None:
    """The outcome when contacts says the component may not reach the contact; None if it may."""
    return {
        Reachability.OK: None,
        Reachability.NOT_MEMBER: Outcome.NOT_MEMBER,
        Reachability.NO_EMAIL: Outcome.NO_EMAIL,
    }[reachability]


def consent_outcome(allowed: bool, decision: ConsentDecision) -> Outcome | None:
    """The outcome when consent forbids the mail; None when it allows it.

    Deny by default: a basis is accepted only when consent both allows it and
    names a basis (consent given, legitimate interest, contract, legal obligation).
    A withdrawal or an objection reads as withdrawn; the rule code says which.
    """
    if allowed and decision in SENDING_BASES:
        return None
    if decision in TAKEN_BACK:
        return Outcome.WITHDRAWN
    return Outcome.NO_CONSENT


def consent_rule(decision: ConsentDecision) -> str:
    """The rule code naming a consent decision, e.g. "consent:no_consent"."""
    return f"consent:{decision.value}"


def smtp_rule(code: int) -> str:
    """The rule code naming an SMTP reply, e.g. "smtp:550"."""
    return f"smtp:{code}"


def is_permanent_smtp_failure(code: int) -> bool:
    """5xx replies are final (RFC 5321); anything else may succeed later."""
    return 500 <= code <= 599


# --- Merge fields --------------------------------------------------------------------------

# Core fields of the catalogue a message may quote, and the derived display name.
CONTACT_FIELDS = frozenset({f.name for f in CORE_FIELDS if f.mergeable} | {DISPLAY_NAME})
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def is_known_field(name: str) -> bool:
    """A merge field a template may name: a core field or a component's `<component>.<key>`."""
    return name in CONTACT_FIELDS or split_attribute(name) is not None


@dataclass(frozen=True)
class Template:
    """A parsed template: literal texts interleaved with merge field names.

    `literals` has one more item than `fields`: literal, field, literal, ...
    """

    literals: tuple[str, ...]
    fields: tuple[str, ...]


class TemplateError(ValueError):
    """A template that names an unknown field or has a broken {{ }}."""


def parse_template(text: str) -> Template:
    """Splits a template into literals and fields; raises TemplateError when it is malformed."""
    literals: list[str] = []
    fields: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        literals.append(text[position : match.start()])
        name = match.group(1)
        if not is_known_field(name):
            # The name comes from the template, written by the manager: no contact data.
            raise TemplateError(f"unknown merge field {name[:64]!r}")
        fields.append(name)
        position = match.end()
    literals.append(text[position:])
    if any("{{" in literal for literal in literals):
        raise TemplateError("'{{' that does not open a merge field like {{ first_name }}")
    return Template(tuple(literals), tuple(fields))


def merge_fields_of(*texts: str) -> list[str]:
    """The merge fields some templates name, each once, in order of first use."""
    return list(dict.fromkeys(f for text in texts for f in parse_template(text).fields))


def render(
    template: Template,
    merge_fields: Mapping[str, str],
    single_line: bool = False,
    escape: Callable[[str], str] | None = None,
) -> str:
    """Fills each field from `merge_fields` only; a field absent from it renders as nothing.

    `single_line` (headers) turns line breaks inside values into spaces, so a
    value can never add a header. `escape` is applied to every value (never to
    the template's own text).
    """
    parts = [template.literals[0]]
    for name, literal in zip(template.fields, template.literals[1:], strict=True):
        value = merge_fields.get(name, "")
        if single_line:
            value = " ".join(value.splitlines())
        if escape is not None:
            value = escape(value)
        parts += [value, literal]
    return "".join(parts)


def render_html(template: Template, merge_fields: Mapping[str, str]) -> str:
    """An HTML template filled like `render`, each value escaped for HTML text and quoted
    attributes (&, <, >, " and ' become character references, control characters are
    dropped), and in an attribute without quotes its white space, = and ` too: a merge
    value shows as text, never as markup or script. A value that begins a link's address
    (`href="{{ website }}"`) keeps only a safe scheme: http, https, mailto or tel
    (`javascript:` and the like render as nothing, a bare host gets "https://"). The
    template's own markup is the campaign manager's.
    """
    parts = [template.literals[0]]
    at_url_start = False  # whether the address opened before holds nothing yet
    unquoted = False  # whether the value sits in an attribute value without quotes
    for name, before, after in zip(
        template.fields, template.literals, template.literals[1:], strict=False
    ):
        value = _CONTROLS.sub("", merge_fields.get(name, ""))
        at_url_start = bool(_URL_START.search(before)) or (at_url_start and not before.strip())
        if at_url_start:
            value = _address_start(value)
        at_url_start = at_url_start and not _URL_IGNORED.sub("", value)
        unquoted = bool(_UNQUOTED_START.search(before)) or (
            unquoted and not _UNQUOTED_END.search(before)
        )
        escaped = html.escape(value, quote=True)
        if unquoted:  # white space, = or ` would end the value or start another attribute
            escaped = _ATTRIBUTE_BREAKERS.sub(lambda m: f"&#{ord(m.group())};", escaped)
        parts += [escaped, after]
    return "".join(parts)


# The literal before a field that opens the value of an attribute followed as an address.
_URL_START = re.compile(
    r"\b(?:href|src|srcset|action|formaction|background|poster|cite|longdesc|xlink:href)"
    r"\s*=\s*[\"']?\s*$",
    re.IGNORECASE,
)
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# What a browser skips inside an address before reading its scheme ("java\tscript:").
_URL_IGNORED_CHARACTERS = "".join(map(chr, range(0x21))) + "\x7f"
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# Control characters HTML does not allow in text, C0 and C1 (some parsers split on them).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# The literal before a field that opens an attribute value without quotes (`<a href=`), and
# what ends such a value in the literal between two fields.
_UNQUOTED_START = re.compile(r"<[^<>]*\s[^\s<>\"'=/]+\s*=\s*$")
_UNQUOTED_END = re.compile(r"[\s>]")
# Characters that could end an unquoted attribute or start a new one, besides html.escape's:
# any white space (HTML's own, and the Unicode spaces lax parsers also split on), = and `.
_ATTRIBUTE_BREAKERS = re.compile(r"[\s=`]")


def _address_start(value: str) -> str:
    """`value` where it opens an address: kept with a safe scheme, or when it cannot start
    one (a path, an anchor); "https://" put before a bare host ("www.univ.example", which
    a following text could otherwise turn into a scheme); nothing with any other scheme."""
    bare = _URL_IGNORED.sub("", value)
    if not bare or not ("a" <= bare[0].lower() <= "z"):
        return value
    scheme = _SCHEME.match(bare)
    if scheme is None:
        return "https://" + value.lstrip(_URL_IGNORED_CHARACTERS)
    return value if scheme.group(1).lower() in _SAFE_SCHEMES else ""


# --- Transactional mail --------------------------------------------------------------------


class TransactionalKind(StrEnum):
    """What a transactional mail is for; a kind not listed here is refused."""

    CONSENT_CONFIRMATION = "consent_confirmation"  # double opt-in: confirm a pending grant
    CONSENT_REVALIDATION = "consent_revalidation"  # a consent nearing expiry: renew it?
    TEST_SEND = "test_send"  # a manager checks how a mail looks


# The services that may send transactional mail without a role naming them: consent sends
# the confirmations and revalidations of consents itself.
TRANSACTIONAL_SERVICES = frozenset({"service:consent"})
SERVICE_ROLE = "service"
# Headers a caller may add (lower case). Nothing that routes, authenticates or
# unsubscribes: From, To, Sender, Return-Path, DKIM and List-* stay ours.
SAFE_TRANSACTIONAL_HEADERS = {
    "reply-to": "Reply-To",
    "content-language": "Content-Language",
    "in-reply-to": "In-Reply-To",
    "references": "References",
}
RULE_TRANSACTIONAL = "transactional"  # the rule of a transactional mail the relay took


def may_send_transactional(
    subject: str, roles: frozenset[str], allowed_roles: frozenset[str]
) -> bool:
    """The consent service, or a caller holding a role the deployment allows."""
    if SERVICE_ROLE in roles and subject in TRANSACTIONAL_SERVICES:
        return True
    return bool(roles & allowed_roles)


def may_name_address(roles: frozenset[str]) -> bool:
    """Only a service of the mesh may give the address itself (staff go through contacts)."""
    return SERVICE_ROLE in roles
