"""The campaign manager's console pages over real HTTP, against the real services.

Every page calls the campaigns service with the signed-in user's token, so what
a page shows is checked against what the API answers the same component, and
what another component's manager gets is checked to be a refusal that changed
nothing.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway
from tests.support.console import ConsoleClient, Page, person

pytestmark = [
    pytest.mark.shared_gateway,  # one mesh for the console modules (conftest.py)
    pytest.mark.skipif(
        not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
    ),
]

GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "component",
    "source": "web-form",
    "text_shown": "I agree to receive the newsletter.",
}
_LABEL = re.compile(r'class="chart-label" data-key="([^"]+)" data-value="([^"]+)"')
_ROW = re.compile(r'<tr class="recipient"')
WAIT_SECONDS = 60.0


def manager(gateway: Gateway, component: str = A) -> ConsoleClient:
    user = gateway.console()
    claims = person(
        component,
        ["campaign_manager", "contact_editor"],
        email=f"manager-{component}@univ.example",
        subject=f"console-manager@{component}",
    )
    home = user.sign_in(claims)
    assert home.status == 200, home.html
    return user


def new_contact(gateway: Gateway, consent: bool = True, **fields: str) -> str:
    token = gateway.keys.manager(A)
    values = {"email": f"{uuid.uuid4().hex[:12]}@example.org", **fields}
    reply = gateway.api.call("POST", "/v1/contacts", token, {"kind": "person", "fields": values})
    assert reply.status == 201, reply.text
    contact_id = str(reply.json["contact"]["id"])
    if consent:
        granted = gateway.api.call("POST", f"/v1/contacts/{contact_id}/consents", token, GRANT)
        assert granted.status == 201, granted.text
    return contact_id


def api_campaign(gateway: Gateway, contact_ids: list[str], name: str = "Rentrée") -> dict[str, Any]:
    body = {
        "name": name,
        "purpose": "newsletter",
        "subject_template": "Bonjour {{ first_name }}",
        "body_template": "À bientôt.",
        "audience": {"contact_ids": contact_ids},
    }
    reply = gateway.api.call("POST", "/v1/campaigns", gateway.keys.manager(A), body)
    assert reply.status == 201, reply.text
    campaign: dict[str, Any] = reply.json
    return campaign


def api_read(gateway: Gateway, campaign_id: str) -> dict[str, Any]:
    reply = gateway.api.call("GET", f"/v1/campaigns/{campaign_id}", gateway.keys.manager(A))
    assert reply.status == 200, reply.text
    campaign: dict[str, Any] = reply.json
    return campaign


def api_ids(gateway: Gateway, component: str = A) -> set[str]:
    ids: set[str] = set()
    path = "/v1/campaigns?page_size=1000"
    reply = gateway.api.call("GET", path, gateway.keys.manager(component))
    assert reply.status == 200, reply.text
    ids |= {c["id"] for c in reply.json["campaigns"]}
    return ids


def chart_counts(page: Page) -> dict[str, int]:
    return {key: int(value) for key, value in _LABEL.findall(page.html)}


def listed_ids(page: Page) -> set[str]:
    return set(re.findall(r'data-campaign="([^"]+)"', page.html))


def test_the_list_shows_the_components_campaigns_only(gateway: Gateway) -> None:
    name = f"Liste {uuid.uuid4().hex[:6]}"
    campaign = api_campaign(gateway, [new_contact(gateway)], name=name)
    page = manager(gateway).get("/console/campaigns/")
    assert page.status == 200, page.html
    assert campaign["id"] in listed_ids(page)
    assert name in page.text
    assert f'href="/console/campaigns/{campaign["id"]}"' in page.html

    other = manager(gateway, B).get("/console/campaigns/")
    assert other.status == 200
    assert campaign["id"] not in listed_ids(other)
    assert name not in other.text


def test_the_list_pages_with_a_next_link(gateway: Gateway) -> None:
    for index in range(3):
        api_campaign(gateway, [new_contact(gateway, consent=False)], name=f"Page {index}")
    user = manager(gateway)
    first = user.get("/console/campaigns/?page_size=2")
    assert first.status == 200
    assert len(listed_ids(first)) == 2
    found = re.search(r'rel="next" href="([^"]+)"', first.html)
    assert found, "a next-page link"
    second = user.get(found.group(1).replace("&amp;", "&"))
    assert second.status == 200
    assert listed_ids(second) and not listed_ids(second) & listed_ids(first)


def _compose_form(contact_id: str, **changes: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "action": "save",
        "name": "Composée",
        "purpose": "newsletter",
        "priority": "7",
        "deadline": "2099-06-01T08:30",
        "audience": "contacts",
        "contact_ids": [contact_id],
        "subject_template": "Bonjour {{ first_name }}",
        "body_template": "Bonjour {{ display_name }},\nÀ bientôt.",
    }
    form.update(changes)
    return form


def test_the_composer_creates_a_draft(gateway: Gateway) -> None:
    contact_id = new_contact(gateway, first_name="Zoé")
    user = manager(gateway)
    form = user.get("/console/campaigns/new")
    assert form.status == 200, form.html
    assert 'value="newsletter"' in form.html  # the purpose comes from consent's catalogue
    assert "{{ first_name }}" in form.text and "{{ display_name }}" in form.text

    # The contact search lists the component's contacts as checkboxes, keeping what was typed.
    searched = user.post(
        "/console/campaigns/new",
        {
            **_compose_form(contact_id, name="Tapée"),
            "contact_ids": [],
            "action": "search",
            "search_field": "first_name",
            "search_value": "Zoé",
        },
    )
    assert searched.status == 200, searched.html
    assert f'name="contact_ids" value="{contact_id}"' in searched.html
    assert 'value="Tapée"' in searched.html
    before = api_ids(gateway)
    saved = user.post("/console/campaigns/new", _compose_form(contact_id))
    assert saved.status == 303, saved.html
    campaign_id = saved.location.rstrip("/").rsplit("/", 1)[-1]
    assert api_ids(gateway) - before == {campaign_id}
    campaign = api_read(gateway, campaign_id)
    assert campaign["status"] == "draft"
    assert campaign["name"] == "Composée"
    assert campaign["priority"] == 7
    assert campaign["deadline"] == "2099-06-01T08:30:00Z"
    assert campaign["audience"] == {"contact_ids": [contact_id]}
    assert campaign["body_template"] == "Bonjour {{ display_name }},\nÀ bientôt."

    page = user.get(saved.location)
    assert page.status == 200 and "Composée" in page.text

    # Editing the draft changes it; the whole component as audience this time.
    edit = user.get(f"/console/campaigns/{campaign_id}/edit")
    assert edit.status == 200 and 'value="Composée"' in edit.html
    changed = user.post(
        f"/console/campaigns/{campaign_id}/edit",
        _compose_form(contact_id, name="Changée", audience="all", deadline=""),
    )
    assert changed.status == 303, changed.html
    campaign = api_read(gateway, campaign_id)
    assert campaign["name"] == "Changée"
    assert campaign["audience"] == {"all_of_component": True}
    assert campaign.get("deadline") is None


def test_an_invalid_form_shows_its_errors_and_creates_nothing(gateway: Gateway) -> None:
    contact_id = new_contact(gateway)
    user = manager(gateway)
    user.get("/console/campaigns/new")
    before = api_ids(gateway)
    refused = user.post(
        "/console/campaigns/new",
        _compose_form(contact_id, name="", priority="beaucoup", subject_template="Typed subject"),
    )
    assert refused.status == 400
    assert 'id="e-priority"' in refused.html
    assert 'value="Typed subject"' in refused.html  # what was typed is kept
    refused = user.post(
        "/console/campaigns/new",
        _compose_form(contact_id, name="", subject_template="Hello {{ no_such_field }}"),
    )
    assert refused.status == 400
    assert 'id="e-name"' in refused.html and 'aria-invalid="true"' in refused.html
    refused = user.post("/console/campaigns/new", _compose_form(contact_id, purpose="no-such"))
    assert refused.status == 400 and 'id="e-purpose"' in refused.html
    refused = user.post("/console/campaigns/new", {**_compose_form(contact_id), "contact_ids": []})
    assert refused.status == 400 and 'id="e-audience"' in refused.html
    assert api_ids(gateway) == before


def api_reach(gateway: Gateway, campaign_id: str) -> dict[str, Any]:
    reply = gateway.api.call("GET", f"/v1/campaigns/{campaign_id}/reach", gateway.keys.manager(A))
    assert reply.status == 200, reply.text
    reach: dict[str, Any] = reply.json
    return reach


def counted_preview(user: ConsoleClient, path: str) -> Page:
    """The preview page reloaded, as its Refresh header asks, until the reach is counted."""
    bound = time.monotonic() + WAIT_SECONDS  # a bound on waiting, never asserted on
    page = user.get(path)
    while 'data-status="counting"' in page.html and time.monotonic() < bound:
        assert page.headers.get("Refresh") == "2"  # the page reloads itself meanwhile
        time.sleep(0.2)
        page = user.get(path)
    return page


def test_preview_counts_in_the_background_then_equal_the_apis_preview(gateway: Gateway) -> None:
    reached = [new_contact(gateway) for _ in range(3)]
    unconsented = [new_contact(gateway, consent=False) for _ in range(2)]
    campaign = api_campaign(gateway, reached + unconsented + ["no-such-contact"])
    path = f"/console/campaigns/{campaign['id']}/preview"
    user = manager(gateway)
    first = user.get(path)
    assert first.status == 200, first.html
    # The first visit starts the count and answers at once: the recipients, no counts yet.
    assert 'data-status="counting"' in first.html and first.headers.get("Refresh") == "2"
    assert chart_counts(first) == {}
    assert len(_ROW.findall(first.html)) == 6
    assert 'id="counting"' in first.html

    page = counted_preview(user, path)
    assert page.status == 200, page.html
    assert 'data-status="done"' in page.html and "Refresh" not in page.headers
    counts = chart_counts(page)
    rest = gateway.api.call(
        "GET", f"/v1/campaigns/{campaign['id']}/preview", gateway.keys.manager(A)
    )
    assert rest.status == 200, rest.text
    assert counts == rest.json["counts"]  # the synchronous count agrees
    assert counts["sent"] == 3 and counts["no_consent"] == 2
    reach = gateway.api.call(
        "GET", f"/v1/campaigns/{campaign['id']}/reach", gateway.keys.manager(A)
    )
    assert reach.status == 200, reach.text
    assert reach.json["status"] == "done" and reach.json["counts"] == counts
    assert reach.json["audience"] == reach.json["evaluated"] == rest.json["audience"]
    assert f'data-audience="{rest.json["audience"]}"' in page.html
    assert f'href="/console/contacts/{reached[0]}"' in page.html
    counted_at = reach.json["started_at"]

    # "Count again" (CSRF) starts a new count; without its token, nothing starts.
    refused = user.post(f"{path}/reach", {}, csrf=False)
    assert refused.status in (400, 403)
    assert api_reach(gateway, campaign["id"])["started_at"] == counted_at
    user.get(path)
    again = user.post(f"{path}/reach", {})
    assert again.status == 303 and again.location.endswith(path)
    assert api_reach(gateway, campaign["id"])["started_at"] != counted_at
    assert chart_counts(counted_preview(user, path)) == counts


def test_the_preview_fetches_one_page_of_recipients_per_request(gateway: Gateway) -> None:
    campaign = api_campaign(gateway, [new_contact(gateway) for _ in range(5)])
    user = manager(gateway)
    path = f"/console/campaigns/{campaign['id']}/preview"
    first = counted_preview(user, f"{path}?page_size=2")
    assert first.status == 200, first.html
    assert len(_ROW.findall(first.html)) == 2
    assert sum(chart_counts(first).values()) == 5  # the counts cover every recipient
    found = re.search(r'rel="next" href="([^"]+)"', first.html)
    assert found, "a next-page link"
    second = user.get(found.group(1).replace("&amp;", "&"))
    assert second.status == 200
    assert len(_ROW.findall(second.html)) == 2
    # A page size beyond the cap is cut to 100 rows at most.
    capped = user.get(f"{path}?page_size=100000")
    assert capped.status == 200 and len(_ROW.findall(capped.html)) == 5


def test_another_components_manager_cannot_count_the_reach(gateway: Gateway) -> None:
    campaign = api_campaign(gateway, [new_contact(gateway)], name="Portée de A")
    path = f"/console/campaigns/{campaign['id']}/preview"
    intruder = manager(gateway, B)
    page = intruder.get(path)
    assert page.status in (403, 404) and "Portée de A" not in page.text
    intruder.get("/console/campaigns/")
    assert intruder.post(f"{path}/reach", {}).status in (403, 404)
    rest = gateway.api.call(
        "GET", f"/v1/campaigns/{campaign['id']}/reach?refresh=true", gateway.keys.manager(B)
    )
    assert rest.status == 404, rest.text
    # Nothing was counted for B: A's first ask is the one that starts the count.
    mine = gateway.api.call("GET", f"/v1/campaigns/{campaign['id']}/reach", gateway.keys.manager(A))
    assert mine.status == 200 and mine.json["status"] == "counting"
    assert mine.json["evaluated"] == 0


def test_the_lifecycle_buttons_move_the_status(gateway: Gateway) -> None:
    campaign = api_campaign(gateway, [new_contact(gateway)])
    campaign_id = campaign["id"]
    path = f"/console/campaigns/{campaign_id}"
    user = manager(gateway)
    page = user.get(path)
    assert page.status == 200
    assert f'action="{path}/schedule"' in page.html and f'action="{path}/pause"' not in page.html

    moved = user.post(f"{path}/schedule", {"send_at": "2099-01-01T08:00"})
    assert moved.status == 303 and moved.location.endswith(path)
    assert api_read(gateway, campaign_id)["send_at"] == "2099-01-01T08:00:00Z"
    page = user.get(path)
    assert 'data-status="scheduled"' in page.html and f'action="{path}/unschedule"' in page.html

    bad = user.post(f"{path}/schedule", {"send_at": "2001-01-01T08:00"})
    assert bad.status == 400 and 'id="e-send_at"' in bad.html
    assert api_read(gateway, campaign_id)["send_at"] == "2099-01-01T08:00:00Z"

    assert user.post(f"{path}/unschedule").status == 303
    assert api_read(gateway, campaign_id)["status"] == "draft"

    user.get(path)
    refused = user.post(f"{path}/pause")  # a draft cannot pause: the service's 409 page
    assert refused.status == 409
    assert api_read(gateway, campaign_id)["status"] == "draft"

    user.get(path)
    assert user.post(f"{path}/cancel").status == 303
    assert api_read(gateway, campaign_id)["status"] == "cancelled"
    page = user.get(path)
    assert 'data-status="cancelled"' in page.html and f'action="{path}/cancel"' not in page.html
    report = user.get(f"{path}/report")
    assert report.status == 200, report.html
    assert 'data-status="cancelled"' in report.html


def test_send_now_and_the_report(gateway: Gateway) -> None:
    campaign = api_campaign(gateway, [new_contact(gateway), new_contact(gateway, consent=False)])
    path = f"/console/campaigns/{campaign['id']}"
    user = manager(gateway)
    user.get(path)
    assert user.post(f"{path}/send").status == 303
    assert api_read(gateway, campaign["id"])["status"] in ("running", "done")
    report = user.get(f"{path}/report")
    assert report.status == 200, report.html
    assert '<svg class="chart chart-columns"' in report.html


def test_the_test_send_button_is_offered_while_editable(gateway: Gateway) -> None:
    """The mail itself is checked end to end (tests/e2e/test_console_journey.py): no relay
    listens here, so the service answers 503 and the page says so; nothing changes."""
    campaign = api_campaign(gateway, [new_contact(gateway)])
    path = f"/console/campaigns/{campaign['id']}"
    user = manager(gateway)
    edit = user.get(f"{path}/edit")
    assert f'action="{path}/test-send"' in edit.html
    answered = user.post(f"{path}/test-send", {"back": "edit"})
    assert answered.status in (303, 503), answered.status
    assert api_read(gateway, campaign["id"])["status"] == "draft"


def test_another_components_manager_cannot_reach_the_campaign(gateway: Gateway) -> None:
    campaign = api_campaign(gateway, [new_contact(gateway)], name="Secret de A")
    path = f"/console/campaigns/{campaign['id']}"
    intruder = manager(gateway, B)
    for suffix in ("", "/preview", "/report", "/edit"):
        page = intruder.get(path + suffix)
        assert page.status in (403, 404), (suffix, page.status)
        assert "Secret de A" not in page.text
    intruder.get("/console/campaigns/")
    forms: dict[str, dict[str, Any]] = {
        "/schedule": {"send_at": "2099-01-01T08:00"},
        "/unschedule": {},
        "/pause": {},
        "/resume": {},
        "/cancel": {},
        "/send": {},
        "/test-send": {},
        "/edit": _compose_form("x", name="Volée"),
    }
    for suffix, form in forms.items():
        refused = intruder.post(path + suffix, form)
        assert refused.status in (403, 404), (suffix, refused.status)
    after = api_read(gateway, campaign["id"])
    assert (after["status"], after["name"], after.get("send_at")) == ("draft", "Secret de A", None)


def test_a_post_without_its_csrf_token_changes_nothing(gateway: Gateway) -> None:
    campaign = api_campaign(gateway, [new_contact(gateway)])
    path = f"/console/campaigns/{campaign['id']}"
    user = manager(gateway)
    user.get(path)
    assert user.post(f"{path}/cancel", csrf=False).status == 400
    assert user.post(f"{path}/cancel", {"csrf_token": "forged"}).status == 400
    assert user.post(f"{path}/schedule", {"send_at": "2099-01-01T08:00"}, csrf=False).status == 400
    assert api_read(gateway, campaign["id"])["status"] == "draft"
    before = api_ids(gateway)
    refused = user.post("/console/campaigns/new", _compose_form(new_contact(gateway)), csrf=False)
    assert refused.status == 400
    assert api_ids(gateway) == before
