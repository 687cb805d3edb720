"""Public unsubscribe links: altered tokens write nothing, GET writes nothing, failures are 503."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from tests.unit.gateway.harness import UNSUBSCRIBE_SECRET, CallRecorder, assert_problem, fields

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
WITHDRAW = "/crm.consent.v1.ConsentService/Withdraw"


def link(purpose: str = "newsletter", secret: str = UNSUBSCRIBE_SECRET) -> str:
    return UnsubscribeTokens(secret).sign(UnsubscribeRequest("c-42", purpose, "k-7"))


def altered_tokens() -> list[str]:
    token = link()
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [flipped, token + "x", "garbage", link(secret="another-secret"), token.split(".")[0]]


@pytest.mark.parametrize("token", altered_tokens())
def test_an_altered_token_is_404_and_calls_nothing(
    client: FlaskClient, recorder: CallRecorder, token: str
) -> None:
    assert_problem(client.get(f"/unsubscribe/{token}"), 404)
    assert_problem(client.post(f"/unsubscribe/{token}", data=ONE_CLICK), 404)
    assert_problem(client.post(f"/unsubscribe/{token}", data={"confirm": "yes"}), 404)
    assert recorder.methods == []


def test_get_shows_a_form_and_changes_nothing(client: FlaskClient, recorder: CallRecorder) -> None:
    token = link()
    response = client.get(f"/unsubscribe/{token}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    form = re.search(r"<form([^>]*)>", page)
    assert form and 'method="post"' in form.group(1)
    assert "action=" not in form.group(1)  # posts back to the same URL, token included
    assert 'name="confirm" value="yes"' in page
    assert "newsletter" in page and "c-42" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert recorder.methods == []


def test_the_page_escapes_what_the_link_carries(client: FlaskClient) -> None:
    page = client.get(f"/unsubscribe/{link('<script>alert(1)</script>')}").get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


@pytest.mark.parametrize("form", [ONE_CLICK, {"confirm": "yes"}])
def test_post_answers_503_when_consent_cannot_record(
    client: FlaskClient, recorder: CallRecorder, form: dict[str, str]
) -> None:
    problem = assert_problem(client.post(f"/unsubscribe/{link()}", data=form), 503)
    assert "retry" in problem["detail"]
    assert recorder.methods == [WITHDRAW]


@pytest.mark.parametrize(
    "form", [{}, {"List-Unsubscribe": "Yes"}, {"confirm": "no"}, {"unsubscribe": "1"}]
)
def test_post_without_a_one_click_body_is_400_and_calls_nothing(
    client: FlaskClient, recorder: CallRecorder, form: dict[str, str]
) -> None:
    form_type = "application/x-www-form-urlencoded"
    response = client.post(f"/unsubscribe/{link()}", data=form, content_type=form_type)
    problem = assert_problem(response, 400)
    assert fields(problem) <= {"body", "List-Unsubscribe", "confirm"}
    assert recorder.methods == []


def test_post_with_json_is_415(client: FlaskClient, recorder: CallRecorder) -> None:
    assert_problem(client.post(f"/unsubscribe/{link()}", json=ONE_CLICK), 415)
    assert recorder.methods == []


def test_unsubscribe_needs_no_token(client: FlaskClient) -> None:
    # A 503 (not a 401): the request got past auth and reached the (unreachable) consent service.
    assert_problem(client.post(f"/unsubscribe/{link()}", data=ONE_CLICK), 503)
