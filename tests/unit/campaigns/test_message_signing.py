"""A campaign mail read back by independent parsers: the stdlib's email parser, and dkimpy's
verifier with the test's public key as the DNS answer."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from meshkit.links import PersonLinks
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from services.campaigns.message import Letterhead, MailFactory, PreferencesLink
from services.campaigns.policy import parse_template, render, render_html
from services.campaigns.signing import DkimKeyError, DkimSigner

LETTERHEAD = Letterhead("Com <no-reply@univ.example>", "https://crm.univ.example", "u@univ.example")
SCRIPT = "<script>alert('x')</script>"


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def signer() -> DkimSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return DkimSigner("mesh2025", "univ.example", _pem(key))


def factory(signer: DkimSigner | None) -> MailFactory:
    return MailFactory(LETTERHEAD, UnsubscribeTokens("s"), PersonLinks("s"), signer)


def campaign_mail(mails: MailFactory, html_template: str = "") -> bytes:
    fields = {"first_name": SCRIPT}
    text = parse_template("Bonjour {{ first_name }},\n\nLa lettre & le reste.")
    message = mails.build(
        to="ada@example.org",
        subject=render(parse_template("Pour {{ first_name }}"), fields, single_line=True),
        body=render(text, fields),
        html=render_html(parse_template(html_template), fields) if html_template else "",
        message_id=mails.new_message_id(),
        unsubscribe=UnsubscribeRequest("contact-1", "newsletter", "campaign-1"),
        preferences=PreferencesLink("contact-1", "campaign-1"),
    )
    return mails.outgoing(message).data


def dns_of(signer: DkimSigner):  # type: ignore[no-untyped-def]
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mesh2025._domainkey.univ.example."
        return signer.dns_record().encode()

    return dnsfunc


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def signed_headers(message: EmailMessage) -> list[str]:
    tags = dict(
        part.strip().split("=", 1)
        for part in re.sub(r"\s+", "", str(message["DKIM-Signature"])).split(";")
        if part
    )
    return tags["h"].split(":")


@pytest.mark.parametrize("html_template", ["", "<p>Bonjour <b>{{ first_name }}</b></p>"])
def test_a_signed_campaign_mail_as_independent_parsers_read_it(
    signer: DkimSigner, html_template: str
) -> None:
    data = campaign_mail(factory(signer), html_template)
    message = parsed(data)

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    (one_click,) = [
        u
        for u in re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
        if u.startswith("https://")
    ]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # The very link of the header, shown in both parts, beside the preference link.
    assert f"Se désinscrire en un clic : {one_click}" in text
    assert f"Unsubscribe in one click: {one_click}" in text
    assert re.search(r"/preferences/\S+", text)
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)
    assert (one_click, "Se désinscrire en un clic") in links
    assert (one_click, "Unsubscribe in one click") in links
    assert any("/preferences/" in href for href, _ in links)
    # A merge value is text in HTML, never markup.
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert SCRIPT in text  # the text part shows it as it is

    assert dkim.verify(data, dnsfunc=dns_of(signer))
    covered = signed_headers(message)
    for header in ("from", "to", "subject", "date", "message-id", "content-type"):
        assert header in covered
    assert covered.count("list-unsubscribe") == 2  # signed, and once more: none may be added
    assert covered.count("list-unsubscribe-post") == 2


@pytest.mark.parametrize(
    ("header", "forged"),
    [
        ("List-Unsubscribe", "<https://evil.example/u>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=Nothing"),
    ],
)
def test_changing_or_adding_an_unsubscribe_header_breaks_the_signature(
    signer: DkimSigner, header: str, forged: str
) -> None:
    data = campaign_mail(factory(signer))
    changed = re.sub(
        rf"(?m)^{header}: [^\r\n]*".encode(), f"{header}: {forged}".encode(), data, count=1
    )
    added = f"{header}: {forged}\r\n".encode() + data
    assert changed != data
    assert not dkim.verify(changed, dnsfunc=dns_of(signer))
    assert not dkim.verify(added, dnsfunc=dns_of(signer))


def test_a_signed_transactional_mail_verifies_too(signer: DkimSigner) -> None:
    mails = factory(signer)
    message = mails.build(
        to="ada@example.org",
        subject="Confirmez",
        body="Cliquez.",
        html="<p>Cliquez.</p>",
        message_id=mails.new_message_id(),
        unsubscribe=None,
        headers={"Auto-Submitted": "auto-generated"},
    )
    data = mails.outgoing(message).data
    assert dkim.verify(data, dnsfunc=dns_of(signer))
    assert "auto-submitted" in signed_headers(parsed(data))


def test_without_a_key_nothing_is_signed() -> None:
    data = campaign_mail(factory(None))
    assert b"DKIM-Signature" not in data
    assert parsed(data).get_content_type() == "multipart/alternative"


def test_a_key_that_cannot_sign_is_refused_at_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    not_rsa = tmp_path / "ec.pem"
    not_rsa.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a key")
    for path in (not_rsa, garbage):
        with pytest.raises(DkimKeyError):
            DkimSigner.from_file("s", "univ.example", path)


# Header values and body lines with the white space relaxed canonicalisation folds away.
_text = st.text(alphabet=st.sampled_from("ab Z9-_.:;<>@\t"), max_size=40)
_value = st.builds(
    lambda parts: "\r\n\t".join(p.strip("\t") or "x" for p in parts),
    st.lists(_text, min_size=1, max_size=3),
)
_body = st.lists(_text, max_size=8).map(lambda lines: "\r\n".join(lines))


@settings(max_examples=60, deadline=None)
@given(_value, _value, _body, st.booleans(), st.integers(0, 3))
def test_any_headers_and_body_verify_with_dkimpy_and_a_changed_body_does_not(
    signer: DkimSigner, subject: str, to: str, body: str, crlf_end: bool, blank: int
) -> None:
    """The signer is ours (OpenSSL through `cryptography`); dkimpy verifies what it signs,
    whatever white space, folds, blank lines or missing final line break the mail has."""
    text = body + "\r\n" * blank + ("\r\n" if crlf_end else "")
    data = (
        f"From: Com <no-reply@univ.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Subject: {subject} again\r\nMIME-Version: 1.0\r\n\r\n{text}"
    ).encode()
    signed = signer.sign(data)
    assert dkim.verify(signed, dnsfunc=dns_of(signer))
    assert not dkim.verify(signed + b"X\r\n", dnsfunc=dns_of(signer))
