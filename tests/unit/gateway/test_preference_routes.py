"""Preference links at the gateway alone: a bad link calls nothing, consent away is a 503 page."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from meshkit.links import LinkKind, PersonLinks
from tests.unit.gateway.harness import UNSUBSCRIBE_SECRET, CallRecorder

CONTACT = "0b7d5f0e-8f0a-4c44-9b7c-3a7a4c1c2f10"


def token(kind: LinkKind = LinkKind.PREFERENCES, secret: str = UNSUBSCRIBE_SECRET) -> str:
    return PersonLinks(secret).sign(kind, CONTACT, "campaign-1")


def altered(genuine: str) -> str:
    """One character of the signature changed: not the last, whose low bits base64 ignores."""
    at = len(genuine) - 10
    return genuine[:at] + ("A" if genuine[at] != "A" else "B") + genuine[at + 1 :]


@pytest.mark.parametrize(
    "bad",
    [
        token(secret="another-secret"),
        altered(token()),
        token(LinkKind.RECEIPT),
        "garbage",
    ],
    ids=["forged", "altered", "another-kind", "garbage"],
)
def test_a_bad_link_is_a_404_page_in_the_asked_language_and_calls_nothing(
    client: FlaskClient, recorder: CallRecorder, bad: str
) -> None:
    for response in (
        client.get(f"/preferences/{bad}?lang=en"),
        client.post(f"/preferences/{bad}?lang=en", data={"keep": ["grouping|events|email"]}),
        client.post(f"/preferences/{bad}/objection?lang=en", data={"object": "yes"}),
    ):
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "This link is not valid." in response.get_data(as_text=True)
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert recorder.methods == []


def test_consent_away_is_a_503_page_and_nothing_is_recorded(
    client: FlaskClient, recorder: CallRecorder
) -> None:
    page = client.get(f"/preferences/{token()}", headers={"Accept-Language": "fr"})
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert "rien n'a été enregistré" in page.get_data(as_text=True).replace("&#39;", "'")
    saved = client.post(f"/preferences/{token()}", data={"keep": ["grouping|events|email"]})
    assert saved.status_code == 503
    objected = client.post(f"/preferences/{token()}/objection", data={"object": "yes"})
    assert objected.status_code == 503
    # A form is read against the state first: with consent away, no grant or withdrawal is tried.
    called = {m.rsplit("/", 1)[1] for m in recorder.methods}
    assert "ListPurposes" in called and not called & {"Grant", "Withdraw", "RecordChanges"}
