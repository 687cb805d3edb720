"""The catalogue use cases: purposes, legal-basis rules and versioned notices (admins write,
anyone signed in reads)."""

from __future__ import annotations

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


def list_purposes(db: Database, include_inactive: bool = False) -> list[Purpose]:
    with db.transaction() as session:
        return repository.purposes(session, include_inactive)


def set_rule(db: Database, principal: Principal, request: RuleRequest) -> BasisRule:
    principal.require_admin()
    rule = valid_rule(request)
    with db.transaction() as session:
        catalogue_violations(rule.purpose, rule.channel, repository.purpose(session, rule.purpose))
        repository.put_rule(session, rule)
    return rule


def list_rules(db: Database, purpose_key: str = "") -> list[BasisRule]:
    with db.transaction() as session:
        return repository.rules(session, purpose_key or None)


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


def list_notices(db: Database, purpose_key: str) -> list[Notice]:
    with db.transaction() as session:
        if repository.purpose(session, purpose_key) is None:
            raise NotFound("no purpose has this key")
        return repository.notices(session, purpose_key)
