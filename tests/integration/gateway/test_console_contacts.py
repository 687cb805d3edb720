"""The console's contact search and contact page, over real HTTP against the real services.

A page shows what the services return to the signed-in user's own token, and
nothing more: the marker test writes A's owner-only values, an interaction and
a consent holding unique markers, then searches every page rendered for B (the
whole HTML, not just its text) for any of them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.contacts.harness import declare
from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway
from tests.support.console import ConsoleClient, Page, person

pytestmark = [
    pytest.mark.shared_gateway,  # one mesh for the console modules (conftest.py)
    pytest.mark.skipif(
        not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
    ),
]


def marker() -> str:
    """A value no id, token, etag or date can hold by chance."""
    return f"MK{uuid.uuid4().hex[:12]}"


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.org"


def signed_in(gateway: Gateway, component: str) -> ConsoleClient:
    """A manager of `component` signed in to the console, pages in English."""
    user = gateway.console()
    home = user.sign_in(
        person(component, ["campaign_manager", "contact_editor"], email=f"m@{component}.example")
    )
    assert home.status == 200, home.html
    assert user.get("/console/?lang=en").status == 200
    return user


def create(gateway: Gateway, component: str, **fields: str) -> dict[str, Any]:
    body = {"kind": "person", "fields": fields}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)
    assert reply.status in (200, 201), reply.text
    contact: dict[str, Any] = reply.json["contact"]
    return contact


def record(gateway: Gateway, component: str, contact_id: str, **body: str) -> dict[str, Any]:
    reply = gateway.api.call(
        "POST",
        f"/v1/contacts/{contact_id}/interactions",
        gateway.keys.manager(component),
        {"channel": "phone", **body},
    )
    assert reply.status == 201, reply.text
    entry: dict[str, Any] = reply.json["interaction"]
    return entry


def grant(gateway: Gateway, component: str, contact_id: str, **body: str) -> dict[str, Any]:
    values = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "component",
        "source": "web-form",
        "text_shown": "I agree to receive the newsletter.",
        **body,
    }
    reply = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(component), values
    )
    assert reply.status == 201, reply.text
    event: dict[str, Any] = reply.json
    return event


def rows(page: Page, caption: str) -> list[str]:
    """The text of each body row of the table with this caption."""
    found = re.search(
        rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", page.html, flags=re.S
    )
    assert found is not None, f"no table {caption!r} on the page"
    body = found.group(1).split("<tbody>", 1)[1]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    ]


def search(user: ConsoleClient, **query: str) -> Page:
    return user.get("/console/contacts/?" + "&".join(f"{k}={v}" for k, v in query.items()))


def test_the_search_finds_a_contact_of_the_viewers_component(gateway: Gateway) -> None:
    last_name = f"Lovelace{uuid.uuid4().hex[:6]}"
    email = new_email()
    contact = create(gateway, A, first_name="Ada", last_name=last_name, email=email)
    other = create(gateway, A, first_name="Ada", last_name="Byron", email=new_email())
    user = signed_in(gateway, A)

    page = search(user, f0_field="last_name", f0_equals=last_name)
    assert page.status == 200, page.html
    assert f'href="/console/contacts/{contact["id"]}"' in page.html
    assert f'href="/console/contacts/{other["id"]}"' not in page.html
    (row,) = rows(page, "Contacts found")
    assert "Ada L." in row and email in row and A in row and "Person" in row
    assert f'value="{last_name}"' in page.html  # the form keeps what was typed

    everything = search(user)
    assert everything.status == 200
    assert f'href="/console/contacts/{other["id"]}"' in everything.html

    nobody = search(user, kind="company", f0_field="last_name", f0_equals=last_name)
    assert nobody.status == 200
    assert "No contact matches." in nobody.text


def test_a_field_the_viewer_may_not_read_is_refused_next_to_the_field(gateway: Gateway) -> None:
    hidden = declare(gateway, A, "bourse")
    user = signed_in(gateway, B)
    for field in (hidden, f"{B}.nothing_here"):
        page = search(user, f1_field=field, f1_equals="1")
        assert page.status == 400, page.html
        assert 'id="e-f1_field"' in page.html  # the error sits next to the second row's field
        assert f'value="{field}"' in page.html
    assert search(user, updated_since="yesterday").status == 400


def test_the_contact_page_shows_the_viewers_own_fields(gateway: Gateway) -> None:
    promo = declare(gateway, A, "promo_console")
    email, job = new_email(), f"Analyste {uuid.uuid4().hex[:6]}"
    contact = create(
        gateway,
        A,
        first_name="Grace",
        last_name="Hopper",
        email=email,
        job_title=job,
        **{promo: "2012"},
    )
    user = signed_in(gateway, A)
    page = user.get(f"/console/contacts/{contact['id']}")
    assert page.status == 200, page.html
    assert "<h1>Grace H.</h1>" in page.html
    fields = rows(page, "Values you may see, with the component that holds each")
    assert f"Work email (email) {email} {A}" in fields
    assert f"Job title (job_title) {job} {A}" in fields
    assert f"{promo} 2012 {A}" in fields
    assert contact["id"] in page.text and "Person" in page.text


def test_a_page_rendered_for_b_never_holds_a_owner_only_values(gateway: Gateway) -> None:
    note, amount = declare(gateway, A, "note_privee"), declare(gateway, A, "montant", "number")
    secrets = {
        "job_title": marker(),
        "postal_address": marker(),
        note: marker(),
        amount: f"{uuid.uuid4().int % 10**8}.37",  # a decimal point: no id holds one
    }
    subject, content, source = marker(), marker(), marker()
    email = new_email()
    shared = create(gateway, A, first_name="Ada", last_name="Martin", email=email, **secrets)
    joined = create(gateway, B, first_name="Dom", email=email)
    assert joined["id"] == shared["id"]
    record(gateway, A, shared["id"], subject=subject, content=content)
    grant(gateway, A, shared["id"], source=source, text_shown=marker())
    a_only = create(gateway, A, email=new_email(), **secrets)
    markers = [*secrets.values(), subject, content, source]

    # The API gives B none of them either (the console can only show what it is given).
    b_token = gateway.keys.manager(B)
    for path in (f"/v1/contacts/{shared['id']}", f"/v1/contacts/{shared['id']}/interactions"):
        reply = gateway.api.call("GET", path, b_token)
        assert reply.status == 200 and not [m for m in markers if m in reply.text], path

    user = signed_in(gateway, B)
    pages = {
        "search": search(user),
        "search by email": search(user, f0_field="email", f0_equals=email),
        "contact": user.get(f"/console/contacts/{shared['id']}"),
        "contact, this month": user.get(
            f"/console/contacts/{shared['id']}?month={datetime.now(UTC):%Y-%m}"
        ),
    }
    for name, page in pages.items():
        assert page.status == 200, (name, page.html)
        leaked = [m for m in markers if m in page.html]
        assert leaked == [], f"{name} shows A's values {leaked}"
    assert f'href="/console/contacts/{shared["id"]}"' in pages["search by email"].html
    contact_page = pages["contact"]
    (call,) = rows(contact_page, "Mailings and interactions of the month, newest first")
    assert A in call and "Phone" in call and "hidden: sent by another component" in call
    assert "Dom" in contact_page.text  # B's own value is there: the page did render fields

    refused = user.get(f"/console/contacts/{a_only['id']}")
    assert refused.status == 404, refused.html
    assert not [m for m in markers if m in refused.html]
    missing = user.get(f"/console/contacts/{uuid.uuid4()}")
    assert missing.status == 404

    mine = signed_in(gateway, A).get(f"/console/contacts/{shared['id']}")
    assert mine.status == 200
    assert all(m in mine.html for m in markers)  # the markers were really there to leak


def test_consent_state_and_history_show_a_grant_made_through_the_api(gateway: Gateway) -> None:
    contact = create(gateway, A, email=new_email())
    event = grant(gateway, A, contact["id"])
    user = signed_in(gateway, A)
    page = user.get(f"/console/contacts/{contact['id']}")
    assert page.status == 200, page.html
    entries = rows(page, "Current consent state")
    (state,) = [r for r in entries if r.startswith("newsletter Email") and event["id"] in r]
    assert f"Component {A}" in state and "Consent given" in state and "Yes" in state, entries
    (history,) = rows(page, "Consent events, oldest first")
    assert "Granted" in history and "web-form" in history and "Staff" in history
    assert event["id"] in history and event["recorded_at"][:10] in history

    # B is not a member: consent answers 404, and so does the whole page.
    assert signed_in(gateway, B).get(f"/console/contacts/{contact['id']}").status == 404


def test_the_history_is_paged_with_a_next_link(gateway: Gateway) -> None:
    contact = create(gateway, A, email=new_email())
    for n in range(21):
        grant(gateway, A, contact["id"], source=f"form-{n:02d}")
    user = signed_in(gateway, A)
    first = user.get(f"/console/contacts/{contact['id']}")
    assert len(rows(first, "Consent events, oldest first")) == 20
    found = re.search(r'href="([^"]+)#consent-history">Next events', first.html)
    assert found is not None, first.html
    second = user.get(found.group(1).replace("&amp;", "&"))
    assert second.status == 200, second.html
    (last,) = rows(second, "Consent events, oldest first")
    assert "form-20" in last
    assert "Next events" not in second.html


def test_interactions_show_content_to_their_component_only(gateway: Gateway) -> None:
    email = new_email()
    shared = create(gateway, A, email=email)
    create(gateway, B, email=email)
    subject, content = marker(), marker()
    record(gateway, A, shared["id"], subject=subject, content=content, purpose="alumni")
    record(
        gateway,
        A,
        shared["id"],
        subject="Gala",
        occurred_at="2025-03-04T10:30:00+01:00",
    )
    caption = "Mailings and interactions of the month, newest first"

    theirs = signed_in(gateway, A).get(f"/console/contacts/{shared['id']}")
    (row,) = rows(theirs, caption)
    assert subject in row and content in row and "alumni" in row and A in row
    assert "hidden" not in row

    b = signed_in(gateway, B)
    seen = b.get(f"/console/contacts/{shared['id']}")
    (row,) = rows(seen, caption)
    assert "hidden: sent by another component" in row and "alumni" in row and A in row
    assert subject not in seen.html and content not in seen.html

    march = b.get(f"/console/contacts/{shared['id']}?month=2025-03")
    assert march.status == 200, march.html
    assert "Who contacted this person in 2025-03" in march.text
    (row,) = rows(march, caption)
    assert "2025-03-04 09:30 UTC" in row and "hidden: sent by another component" in row
    assert "Gala" not in march.html
    april = b.get(f"/console/contacts/{shared['id']}?month=2025-04")
    assert "Nobody contacted this person that month." in april.text

    bad = b.get(f"/console/contacts/{shared['id']}?month=March")
    assert bad.status == 400
    assert 'id="e-month"' in bad.html and 'value="March"' in bad.html


def test_the_search_is_paged_with_a_next_link(gateway: Gateway) -> None:
    last_name = f"Page{uuid.uuid4().hex[:6]}"
    ids = {create(gateway, A, last_name=last_name, email=new_email())["id"] for _ in range(51)}
    user = signed_in(gateway, A)
    first = search(user, f0_field="last_name", f0_equals=last_name)
    assert first.status == 200, first.html
    found = re.search(r'rel="next" href="([^"]+)"', first.html)
    assert found is not None, "a full page links to the next one"
    second = user.get(found.group(1).replace("&amp;", "&"))
    assert second.status == 200, second.html
    assert 'rel="next"' not in second.html
    listed = [
        set(re.findall(r'href="/console/contacts/([0-9a-f-]{36})"', p.html))
        for p in (first, second)
    ]
    assert (len(listed[0]), len(listed[1])) == (50, 1)
    assert listed[0] | listed[1] == ids


def test_a_viewer_without_a_component_picks_whose_contacts_to_search(gateway: Gateway) -> None:
    last_name = f"Admin{uuid.uuid4().hex[:6]}"
    contact = create(gateway, B, last_name=last_name, email=new_email())
    user = gateway.console()
    assert user.sign_in(person(None, "admin", email="admin@univ.example")).status == 200
    page = search(user, member_of=B, lang="en")  # B has a handful of contacts: one page
    assert page.status == 200, page.html
    assert '<label for="f-member_of">Component</label>' in page.html
    assert f'href="/console/contacts/{contact["id"]}"' in page.html
    shown = user.get(f"/console/contacts/{contact['id']}")
    assert shown.status == 200, shown.html
    assert contact["id"] in shown.text and B in shown.text


def test_the_pages_speak_french_by_default(gateway: Gateway) -> None:
    contact = create(gateway, A, email=new_email())
    user = gateway.console()
    user.sign_in(person(A, "campaign_manager", email="fr@sciences.example"))
    assert "Rechercher des contacts" in search(user).text
    page = user.get(f"/console/contacts/{contact['id']}")
    assert page.status == 200 and "Champs que vous pouvez voir" in page.text
    assert '<html lang="fr">' in page.html
