"""The catalogue use cases: purposes, legal-basis rules and versioned notices (admins write,
anyone signed in reads)."""

from __future__ import annotations

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import (
    AlreadyExists,
    NotFound,
    invalid,
)
from meshkit.identity import Principal
from services.consent import repository
from services.consent.domain import (
    BasisRule,
    Channel,
    Notice,
    Purpose,
)
from services.consent.service import Clock, utc_now
from services.consent.validation import (
    PurposeRequest,
    RuleRequest,
    catalogue_violations,
    valid_notice,
    valid_purpose,
    valid_rule,
    valid_update,
)

DEFAULT_PAGE = 100
MAX_PAGE = 1000
# The names that bind a page token to its list (see meshkit.page_tokens).
PURPOSES_LIST = "consent.purposes"
RULES_LIST = "consent.basis-rules"
NOTICES_LIST = "consent.notices"


def create_purpose(db: Database, principal: Principal, request: PurposeRequest) -> Purpose:
    principal.require_admin()
    new = valid_purpose(request)
    with db.transaction() as session:
        if not repository.add_purpose(session, new):
            raise AlreadyExists("a purpose with this key exists")
    return new


def update_purpose(
    db: Database,
    principal: Principal,
    key: str,
    fields: list[str],
    label_fr: str,
    label_en: str,
    channels: list[Channel | None],
    active: bool,
) -> Purpose:
    principal.require_admin()
    with db.transaction() as session:
        current = repository.purpose(session, key)
        if current is None:
            raise NotFound("no purpose has this key")
        changed = valid_update(current, fields, label_fr, label_en, channels, active)
        repository.save_purpose(session, changed)
    return changed


def list_purposes(
    db: Database, include_inactive: bool = False, page_size: int = 0, page_token: str = ""
) -> tuple[list[Purpose], str]:
    """One page of the catalogue by key, and the token of the next page ("" on the last)."""
    size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
    binding = "inactive too" if include_inactive else "active"
    after = page_tokens.after_str(page_token, PURPOSES_LIST, binding)
    with db.transaction() as session:
        found = repository.purposes(session, include_inactive, after, size + 1)
    if len(found) <= size:
        return found, ""
    return found[:size], page_tokens.encode(PURPOSES_LIST, (found[size - 1].key,), binding)


def set_rule(db: Database, principal: Principal, request: RuleRequest) -> BasisRule:
    principal.require_admin()
    rule = valid_rule(request)
    with db.transaction() as session:
        catalogue_violations(rule.purpose, rule.channel, repository.purpose(session, rule.purpose))
        repository.put_rule(session, rule)
    return rule


def list_rules(
    db: Database, purpose_key: str = "", page_size: int = 0, page_token: str = ""
) -> tuple[list[BasisRule], str]:
    """One page of the basis rules in key order, and the token of the next page."""
    size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
    position = page_tokens.decode(page_token, RULES_LIST, (str, str, str), purpose_key)
    after = (str(position[0]), str(position[1]), str(position[2])) if position else None
    with db.transaction() as session:
        found = repository.rules(session, purpose_key or None, after, size + 1)
    if len(found) <= size:
        return found, ""
    last = found[size - 1]
    key = (last.purpose, last.channel.value, last.contact_kind.value)
    return found[:size], page_tokens.encode(RULES_LIST, key, purpose_key)


def publish_notice(
    db: Database,
    principal: Principal,
    purpose_key: str,
    language: str,
    text: str,
    clock: Clock = utc_now,
) -> Notice:
    """Publishes the next version of a notice; earlier versions stay as they were."""
    principal.require_admin()
    purpose_key, lang, text = valid_notice(purpose_key, language, text)
    with db.transaction() as session:
        if repository.purpose(session, purpose_key) is None:
            raise invalid("purpose", "unknown purpose: see ListPurposes")
        published = repository.publish_notice(
            session, purpose_key, lang, text, clock(), principal.subject
        )
    if published is None:
        raise AlreadyExists("another version was published at the same time: publish again")
    return published


def list_notices(
    db: Database, purpose_key: str, page_size: int = 0, page_token: str = ""
) -> tuple[list[Notice], str]:
    """One page of a purpose's notices by language then version, and the next page's token."""
    size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
    position = page_tokens.decode(page_token, NOTICES_LIST, (str, int), purpose_key)
    after = None
    if position is not None:
        language, version = position
        assert isinstance(version, int)  # decode checked the shape
        after = (str(language), version)
    with db.transaction() as session:
        if repository.purpose(session, purpose_key) is None:
            raise NotFound("no purpose has this key")
        found = repository.notices(session, purpose_key, after, size + 1)
    if len(found) <= size:
        return found, ""
    last = found[size - 1]
    key = (last.language.value, last.version)
    return found[:size], page_tokens.encode(NOTICES_LIST, key, purpose_key)
