"""The data-protection officer's console pages, over real HTTP in front of real services.

Privacy requests are the grouping's DPO's (consent refuses a component's DPO,
as the API does); the audit of sensitive reads lists only the reads of values
the DPO's own component owns (contacts scopes it, as for the API); receipts
are shown readably, and their signed JWT can be downloaded.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.consent.receipts import verify_receipt
from services.gateway.console.privacy import Due, due
from tests.integration.gateway.harness import A, B, Gateway, problem
from tests.support.console import ConsoleClient, person

pytestmark = pytest.mark.shared_gateway  # one mesh for the console modules (conftest.py)

ORDER = ("open", "in_progress", "done", "failed")


def dpo_token(gateway: Gateway, component: str | None = None) -> str:
    return gateway.keys.issuer.mint(
        f"dpo@{component or 'grouping'}", component=component, roles=["dpo"]
    )


def signed_in_dpo(gateway: Gateway, component: str | None) -> ConsoleClient:
    user = gateway.console()
    home = user.sign_in(
        person(component, "dpo", email=f"dpo.{component or 'grouping'}@univ.example")
    )
    assert home.status == 200, home.html
    return user


def new_contact(gateway: Gateway, component: str) -> str:
    body = {"kind": "person", "fields": {"email": f"{uuid.uuid4().hex[:12]}@example.org"}}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)
    assert reply.status in (200, 201), reply.text
    return str(reply.json["contact"]["id"])


def open_access_request(gateway: Gateway, contact_id: str) -> dict[str, Any]:
    body = {"kind": "access", "contact_id": contact_id}
    reply = gateway.api.call("POST", "/v1/privacy-requests", dpo_token(gateway), body)
    assert reply.status == 202, reply.text
    return dict(reply.json)


def api_status(gateway: Gateway, request_id: str) -> str:
    reply = gateway.api.call("GET", f"/v1/privacy-requests/{request_id}", dpo_token(gateway))
    assert reply.status == 200, reply.text
    return str(reply.json["status"])


def main_of(html: str) -> str:
    """The page's <main> (the header's language links repeat the URL, ids included)."""
    found = re.search(r"<main\b.*?</main>", html, re.S)
    assert found
    return found.group(0)


def row_of(html: str, request_id: str) -> str:
    found = re.search(rf'<tr data-request="{request_id}"[^>]*>.*?</tr>', html, re.S)
    assert found, f"request {request_id} is not listed"
    return found.group(0)


def test_staff_who_are_not_dpos_get_403_on_every_privacy_page(gateway: Gateway) -> None:
    manager = gateway.console()
    manager.sign_in(person(A, ["campaign_manager", "contact_editor"], email="m@univ.example"))
    for path in ("/", "/requests", "/requests/new", "/audit", "/receipts"):
        page = manager.get(f"/console/privacy{path}")
        assert page.status == 403, (path, page.status)
    admin = gateway.console()
    admin.sign_in(person(None, "admin", email="admin@univ.example"))
    assert admin.get("/console/privacy/requests").status == 403
    # Nor is the area in their navigation.
    assert "/console/privacy/" not in manager.get("/console/").html


def test_a_request_opened_via_the_api_shows_with_its_status_and_deadline(
    gateway: Gateway,
) -> None:
    contact_id = new_contact(gateway, A)
    opened = open_access_request(gateway, contact_id)
    before = api_status(gateway, opened["id"])
    user = signed_in_dpo(gateway, None)
    listing = user.get("/console/privacy/requests?lang=en")
    after = api_status(gateway, opened["id"])
    assert listing.status == 200, listing.html
    row = row_of(listing.html, opened["id"])
    text = re.sub(r"<[^>]+>", " ", row)
    assert contact_id in text and "Access" in text
    assert opened["deadline"][:10] in text and opened["opened_at"][:10] in text
    shown = {"Open": "open", "In progress": "in_progress", "Done": "done", "Failed": "failed"}
    statuses = [word for label, word in shown.items() if f">{label}<" in row]
    assert len(statuses) == 1 and statuses[0] in {before, after}, (statuses, before, after)
    if statuses[0] not in ("done", "failed"):  # a month ahead: days left, neither flag
        assert 'data-flag=""' in row and " d" in text
    detail = user.get(f"/console/privacy/requests/{opened['id']}?lang=en")
    assert detail.status == 200
    assert opened["id"] in detail.text and contact_id in detail.text
    parts = set(re.findall(r'<tr data-part="([a-z]+)"', detail.html))
    assert parts == {s["part"] for s in opened["steps"]} and parts
    # The filter by status asks consent for that status only.
    failed = user.get("/console/privacy/requests?status=failed")
    assert failed.status == 200 and opened["id"] not in failed.html


def test_a_component_dpo_is_refused_the_requests_as_by_the_api(gateway: Gateway) -> None:
    opened = open_access_request(gateway, new_contact(gateway, A))
    for component in (A, B):
        api = gateway.api.call("GET", "/v1/privacy-requests", dpo_token(gateway, component))
        problem(api, 403)
        user = signed_in_dpo(gateway, component)
        listing = user.get("/console/privacy/requests")
        assert listing.status == 403 and opened["id"] not in main_of(listing.html)
        detail = user.get(f"/console/privacy/requests/{opened['id']}")
        assert detail.status == 403 and opened["id"] not in main_of(detail.html)
        # Their landing page offers the audit and receipts, not the requests.
        index = user.get("/console/privacy/")
        assert index.status == 200
        assert "/console/privacy/audit" in index.html
        assert "/console/privacy/requests" not in index.html


def test_opening_a_request_from_the_console(gateway: Gateway) -> None:
    contact_id = new_contact(gateway, A)
    user = signed_in_dpo(gateway, None)
    form = user.get("/console/privacy/requests/new?lang=en")
    assert form.status == 200
    # Without its CSRF token: refused, and nothing is recorded.
    refused = user.post(
        "/console/privacy/requests/new", {"kind": "access", "contact_id": contact_id}, csrf=False
    )
    assert refused.status == 400
    listed = gateway.api.call(
        "GET", f"/v1/privacy-requests?contact_id={contact_id}", dpo_token(gateway)
    )
    assert listed.json["requests"] == []
    # A missing kind and a malformed id: errors next to the fields, what was typed kept.
    user.get("/console/privacy/requests/new?lang=en")
    bad = user.post("/console/privacy/requests/new", {"kind": "", "contact_id": "not-an-id"})
    assert bad.status == 400
    assert 'id="e-kind"' in bad.html and 'value="not-an-id"' in bad.html
    bad = user.post("/console/privacy/requests/new", {"kind": "access", "contact_id": "not-an-id"})
    assert bad.status == 400 and 'id="e-contact_id"' in bad.html
    # A good one: recorded, then the request's page (post/redirect/get).
    done = user.post("/console/privacy/requests/new", {"kind": "access", "contact_id": contact_id})
    assert done.status == 303, done.html
    listed = gateway.api.call(
        "GET", f"/v1/privacy-requests?contact_id={contact_id}", dpo_token(gateway)
    )
    [made] = listed.json["requests"]
    assert made["kind"] == "access" and made["opened_by"].startswith("grouping-dpo")
    assert done.location.endswith(f"/console/privacy/requests/{made['id']}")
    assert contact_id in user.get(done.location).text


def test_a_sensitive_read_via_the_api_shows_in_its_owners_audit_only(gateway: Gateway) -> None:
    contact_id = new_contact(gateway, A)
    read = gateway.api.call("GET", f"/v1/contacts/{contact_id}", gateway.keys.manager(A))
    assert read.status == 200, read.text
    # What the API shows each component's DPO.
    api_a = gateway.api.call(
        "GET", f"/v1/audit/sensitive-reads?contact_id={contact_id}", dpo_token(gateway, A)
    )
    assert api_a.status == 200 and api_a.json["reads"], api_a.text
    api_b = gateway.api.call(
        "GET", f"/v1/audit/sensitive-reads?contact_id={contact_id}", dpo_token(gateway, B)
    )
    assert api_b.status == 200 and api_b.json["reads"] == [], api_b.text
    # The same in the console: A's DPO sees the read, field by field.
    a_dpo = signed_in_dpo(gateway, A)
    page = a_dpo.get(f"/console/privacy/audit?contact_id={contact_id}")
    assert page.status == 200
    shown = re.findall(rf'<tr data-contact="{contact_id}" data-field="([^"]+)"', page.html)
    assert sorted(shown) == sorted(r["field"] for r in api_a.json["reads"])
    assert "GetContact" in page.text and "manager@" + A in page.text
    # Unfiltered, the newest read is somewhere in A's pages (oldest first, 25 a page).
    pages, path = [], "/console/privacy/audit"
    while path:
        listing = a_dpo.get(path)
        assert listing.status == 200
        pages.append(listing.html)
        found = re.search(r'<a class="button secondary" rel="next" href="([^"]+)"', listing.html)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert any(contact_id in html for html in pages)
    # B's DPO sees none of A's reads, filtered or not.
    b_dpo = signed_in_dpo(gateway, B)
    for path in (f"/console/privacy/audit?contact_id={contact_id}", "/console/privacy/audit"):
        theirs = b_dpo.get(path)
        assert theirs.status == 200 and f'data-contact="{contact_id}"' not in theirs.html
    # The grouping's DPO has no component: contacts refuses it, as the API does.
    problem(gateway.api.call("GET", "/v1/audit/sensitive-reads", dpo_token(gateway)), 403)
    assert signed_in_dpo(gateway, None).get("/console/privacy/audit").status == 403
    # A malformed filter is a field error, not a crash.
    bad = a_dpo.get("/console/privacy/audit?contact_id=nope")
    assert bad.status == 400 and 'id="e-contact_id"' in bad.html


def test_a_receipt_reads_as_kantara_fields_and_its_jwt_verifies(gateway: Gateway) -> None:
    contact_id = new_contact(gateway, A)
    notice = f"Je souhaite recevoir la lettre {uuid.uuid4().hex[:6]}."
    grant = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "component",
        "source": "web-form",
        "text_shown": notice,
    }
    reply = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(A), grant
    )
    assert reply.status == 201, reply.text
    event_id = str(reply.json["id"])
    api = gateway.api.call("GET", f"/v1/consent/receipts/{event_id}", dpo_token(gateway, A))
    assert api.status == 200, api.text
    user = signed_in_dpo(gateway, A)
    page = user.get(f"/console/privacy/receipts?event_id={event_id}&lang=en")
    assert page.status == 200
    assert api.json["receipt_id"] in page.text and contact_id in page.text
    assert notice in page.text and "Collection method" in page.text
    assert api.json["key_id"] in page.text
    download = user.get(f"/console/privacy/receipts/{event_id}.jwt")
    assert download.status == 200
    assert download.headers["Content-Type"].startswith("application/jwt")
    assert "attachment" in download.headers["Content-Disposition"]
    keys = gateway.api.call("GET", "/consent/receipt-keys").json
    assert verify_receipt(download.body.decode(), keys) == api.json["receipt"]
    # An unknown id is the service's 404, the same page as for another's receipt.
    assert user.get(f"/console/privacy/receipts?event_id={uuid.uuid4()}").status == 404
    assert user.get(f"/console/privacy/receipts/{uuid.uuid4()}.jwt").status == 404


def test_days_left_flag_overdue_and_due_within_a_week_but_not_finished_requests() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert due("open", "2026-03-20T12:00:00Z", now) == Due(19, "")
    assert due("in_progress", "2026-03-08T12:00:00Z", now) == Due(7, "soon")
    assert due("open", "2026-03-01T18:00:00Z", now) == Due(1, "soon")
    assert due("open", "2026-02-27T12:00:00Z", now) == Due(-2, "overdue")
    assert due("done", "2026-02-27T12:00:00Z", now) == Due(-2, "finished")
    assert due("failed", "2026-03-03T12:00:00Z", now).flag == "finished"
