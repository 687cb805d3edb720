"""Who may send transactional mail, and what such a mail may carry."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from services.campaigns.message import Letterhead, MailFactory
from services.campaigns.policy import may_name_address, may_send_transactional
from services.campaigns.validation import TransactionalMail, validated_transactional

ROLES = ["viewer", "contact_editor", "campaign_manager", "dpo", "admin", "service"]
SUBJECTS = ["service:consent", "service:gateway", "service:contacts", "ana@sciences", "consent"]

MAIL = TransactionalMail(
    idempotency_key="confirm-7f3a",
    contact_id="c-1",
    kind="consent_confirmation",
    subject="Confirmez votre inscription",
    text_body="Cliquez sur le lien.",
    component_id="sciences",
)


@given(
    subject=st.sampled_from(SUBJECTS),
    roles=st.frozensets(st.sampled_from(ROLES)),
    allowed=st.frozensets(st.sampled_from(ROLES[:-1])),
)
def test_only_the_consent_service_or_an_allowed_role_may_send(
    subject: str, roles: frozenset[str], allowed: frozenset[str]
) -> None:
    expected = ("service" in roles and subject == "service:consent") or bool(roles & allowed)
    assert may_send_transactional(subject, roles, allowed) is expected


def test_by_default_only_the_consent_service_may_send() -> None:
    assert may_send_transactional("service:consent", frozenset({"service"}), frozenset())
    assert not may_send_transactional("service:gateway", frozenset({"service"}), frozenset())
    # A person whose subject imitates the service has no service role.
    assert not may_send_transactional("service:consent", frozenset({"admin"}), frozenset())
    assert not may_send_transactional("ana@sciences", frozenset(ROLES[:-1]), frozenset())


def test_only_services_may_give_the_address() -> None:
    assert may_name_address(frozenset({"service"}))
    assert not may_name_address(frozenset(ROLES[:-1]))


def test_a_well_formed_mail_passes_with_canonical_header_names() -> None:
    mail = replace(MAIL, headers=(("reply-to", "dpo@univ.example"), ("CONTENT-LANGUAGE", "fr")))
    checked = validated_transactional(mail)
    assert checked.headers == (("Reply-To", "dpo@univ.example"), ("Content-Language", "fr"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "with space"}, "idempotency_key"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"contact_id": ""}, "contact_id"),
        ({"kind": "newsletter"}, "kind"),
        ({"subject": "line\r\nBcc: victim@example.org"}, "subject"),
        ({"subject": " "}, "subject"),
        ({"text_body": ""}, "text_body"),
        ({"html_body": "a\x00b"}, "html_body"),
        ({"component_id": "", "to": ""}, "component_id"),
        ({"component_id": "Not A Component"}, "component_id"),
        ({"to": "not an address"}, "to"),
        ({"purpose": "Bad Purpose"}, "purpose"),
        ({"list_unsubscribe": True}, "purpose"),
        ({"headers": (("Bcc", "victim@example.org"),)}, "headers[Bcc]"),
        ({"headers": (("List-Unsubscribe", "<mailto:x@y.z>"),)}, "headers[List-Unsubscribe]"),
        ({"headers": (("Reply-To", "a@b.c\r\nBcc: v@x.org"),)}, "headers[Reply-To]"),
        ({"headers": (("Reply-To", "nobody"),)}, "headers[Reply-To]"),
    ],
)
def test_bad_input_names_the_field_and_never_quotes_the_value(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validated_transactional(replace(MAIL, **changes))  # type: ignore[arg-type]
    assert field in [v.field for v in raised.value.violations]
    assert "victim" not in raised.value.detail


FACTORY = MailFactory(
    Letterhead("Com <no-reply@univ.example>", "https://crm.univ.example", "unsub@univ.example"),
    UnsubscribeTokens("unit-secret"),
)


def test_a_transactional_mail_has_no_unsubscribe_header_unless_asked() -> None:
    plain = FACTORY.build(
        to="ada@example.org",
        subject="Confirmez",
        body="Texte",
        html="<p>Texte</p>",
        message_id=FACTORY.new_message_id(),
        unsubscribe=None,
        headers={"Auto-Submitted": "auto-generated", "Reply-To": "dpo@univ.example"},
    )
    assert plain["List-Unsubscribe"] is None and plain["List-Unsubscribe-Post"] is None
    assert plain["Reply-To"] == "dpo@univ.example"
    assert plain.get_body(("html",)) is not None and plain.get_body(("plain",)) is not None
    asked = FACTORY.build(
        to="ada@example.org",
        subject="Confirmez",
        body="Texte",
        message_id=FACTORY.new_message_id(),
        unsubscribe=UnsubscribeRequest("c-1", "newsletter", "transactional:1"),
    )
    assert asked["List-Unsubscribe"].startswith("<https://crm.univ.example/unsubscribe/")
