"""The console's admin pages over real HTTP: organisation tree, field policies, "view as".

Only administrators reach them; each page shows what contacts answers to the
admin's own token, and "view as" shows exactly what the chosen placement would
see (never A's owner-only value when viewing as B).
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from tests.integration.contacts.harness import declare
from tests.integration.gateway.harness import A, B, Gateway
from tests.support.console import ConsoleClient, Page, person

pytestmark = pytest.mark.shared_gateway  # one mesh for the console modules (conftest.py)

MARKER = "owner-only-5150"
ADMIN_PAGES = (
    "/console/admin/",
    "/console/admin/organisation",
    "/console/admin/field-policies",
    "/console/admin/field-policies/history?field=email",
    "/console/admin/view-as",
    "/console/admin/field-policies/edit?field=email",
)


def admin_console(gateway: Gateway) -> ConsoleClient:
    user = gateway.console()
    home = user.sign_in(person(None, "admin", email="root@univ.example"))
    assert home.status == 200, home.text
    return user


def components_in_db(gateway: Gateway) -> set[str]:
    with gateway.engine.connect() as connection:
        return {row[0] for row in connection.execute(text("SELECT id FROM components"))}


def test_non_admins_get_403_on_every_admin_page(gateway: Gateway) -> None:
    for claims in (
        person(A, ["campaign_manager", "contact_editor"], email="m@univ.example"),
        person(B, "dpo", email="dpo@univ.example"),
        person(None, "dpo", email="gdpo@univ.example"),
    ):
        user = gateway.console()
        user.sign_in(claims)
        for path in ADMIN_PAGES:
            page = user.get(path)
            assert page.status == 403, (path, page.status)
        user.get("/console/")
        before = components_in_db(gateway)
        refused = user.post(
            "/console/admin/organisation/components",
            {"component_id": "intrus", "component_name": "Intrus"},
        )
        assert refused.status == 403
        assert components_in_db(gateway) == before
        policy = user.post(
            "/console/admin/field-policies/edit",
            {"field": "email", "read": "grouping", "write": "owner"},
        )
        assert policy.status == 403
        listed = gateway.api.call("GET", "/v1/field-policies", gateway.keys.admin())
        assert "email" not in {p["field"] for p in listed.json["policies"]}


def test_signed_out_users_are_sent_to_sign_in(gateway: Gateway) -> None:
    user = gateway.console()
    page = user.get("/console/admin/organisation")
    assert page.status in (302, 303) and "/console/login" in page.location


def test_the_tree_shows_components_a_and_b(gateway: Gateway) -> None:
    admin_token = gateway.keys.admin()
    reply = gateway.api.call(
        "POST", f"/v1/components/{A}/services", admin_token, {"id": "alumni", "name": "Alumni"}
    )
    assert reply.status in (201, 409), reply.text
    user = admin_console(gateway)
    page = user.get("/console/admin/organisation?lang=en")
    assert page.status == 200, page.text
    assert f'data-component="{A}"' in page.html and f'data-component="{B}"' in page.html
    assert 'data-service="alumni"' in page.html
    assert "Components" in page.text and "Hierarchy levels" in page.text
    assert page.html.count("<h1") == 1


def test_an_admin_creates_a_component_and_a_service_with_field_errors(gateway: Gateway) -> None:
    user = admin_console(gateway)
    user.get("/console/admin/organisation?lang=en")
    bad = user.post(
        "/console/admin/organisation/components",
        {"component_id": "Not A Slug!", "component_name": "Lettres"},
    )
    assert bad.status == 400
    assert 'id="e-component_id"' in bad.html and 'value="Not A Slug!"' in bad.html
    assert 'value="Lettres"' in bad.html  # what was typed is kept
    assert "Not A Slug!" not in components_in_db(gateway)

    # Without its CSRF token the form is refused and nothing is created.
    forged = user.post(
        "/console/admin/organisation/components",
        {"component_id": "lettres", "component_name": "Lettres"},
        csrf=False,
    )
    assert forged.status in (400, 403)
    assert "lettres" not in components_in_db(gateway)

    user.get("/console/admin/organisation")
    done = user.post(
        "/console/admin/organisation/components",
        {"component_id": "lettres", "component_name": "Lettres"},
    )
    assert done.status == 303, done.text
    shown = user.get(done.location)
    assert 'data-component="lettres"' in shown.html
    assert "lettres" in components_in_db(gateway)

    again = user.post(
        "/console/admin/organisation/components",
        {"component_id": "lettres", "component_name": "Lettres"},
    )
    assert again.status == 409 and 'id="e-component_id"' in again.html

    created = user.post(
        "/console/admin/organisation/services",
        {"service_component": "lettres", "service_id": "langues", "service_name": "Langues"},
    )
    assert created.status == 303, created.text
    assert 'data-service="langues"' in user.get(created.location).html
    unknown = user.post(
        "/console/admin/organisation/services",
        {"service_component": "nowhere", "service_id": "x1", "service_name": "X"},
    )
    assert unknown.status == 404 and 'id="e-service_component"' in unknown.html


def test_the_policies_table_shows_a_policy_set_through_the_api(gateway: Gateway) -> None:
    promo = declare(gateway, A, "promo_console")
    body = {
        "read": [
            {"audience": "owner"},
            {"audience": "components", "components": [B], "min_level": None, "service": None},
        ],
        "write": [{"audience": "owner"}],
    }
    reply = gateway.api.call("PUT", f"/v1/field-policies/{promo}", gateway.keys.admin(), body)
    assert reply.status == 200, reply.text
    user = admin_console(gateway)
    page = user.get("/console/admin/field-policies?lang=en")
    assert page.status == 200, page.text
    row = re.search(rf'<tr data-field="{re.escape(promo)}">(.*?)</tr>', page.html, re.S)
    assert row is not None, "the policy's field is not in the table"
    assert f"Components: {B}" in row.group(1) and "Owner component" in row.group(1)
    # A field no policy names is its owner's only.
    phone = re.search(r'<tr data-field="private_phone">(.*?)</tr>', page.html, re.S)
    assert phone is not None and "Owner component only" in phone.group(1)

    history = user.get(f"/console/admin/field-policies/history?field={promo}&lang=en")
    assert history.status == 200
    assert "admin@grouping" in history.text and f"Components: {B}" in history.text
    assert "no policy" in history.text  # the field had none before


def view_as(user: ConsoleClient, **form: str) -> Page:
    """Posts the view-as form (with the CSRF token of its own page)."""
    user.get("/console/admin/view-as?lang=en")
    return user.post("/console/admin/view-as", form)


def test_view_as_shows_each_placement_its_own_view(gateway: Gateway) -> None:
    secret = declare(gateway, A, "secret_console")  # no policy: owner only
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    body = {
        "kind": "person",
        "fields": {"first_name": "Ada", "last_name": "Lovelace", "email": email, secret: MARKER},
    }
    created = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(A), body)
    assert created.status == 201, created.text
    contact_id = created.json["contact"]["id"]
    user = admin_console(gateway)
    # A link (GET) never makes the audited read: only the form, posted with its token.
    linked = user.get(f"/console/admin/view-as?contact={contact_id}&component={A}&lang=en")
    assert linked.status == 200 and MARKER not in linked.html and 'id="view-as"' not in linked.html
    assert (
        user.post(
            "/console/admin/view-as", {"contact": contact_id, "component": A}, csrf=False
        ).status
        == 400
    )

    as_a = view_as(user, contact=contact_id, component=A)
    assert as_a.status == 200, as_a.text
    assert MARKER in as_a.text and f'data-field="{secret}"' in as_a.html

    as_b = view_as(user, contact=contact_id, component=B)
    assert as_b.status == 200, as_b.text
    assert f"as seen by {B}" in as_b.text
    assert MARKER not in as_b.html and secret not in as_b.html
    assert email not in as_b.text  # A's email is not shared with B

    # The same as B's own token through the API: the console shows no more than that.
    api_b = gateway.api.call("GET", f"/v1/contacts/{contact_id}", gateway.keys.manager(B))
    for name in api_b.json["fields"]:
        assert f'data-field="{name}"' in as_b.html
    assert as_b.html.count("<tr data-field=") == len(api_b.json["fields"])


def test_view_as_refuses_an_unknown_placement_next_to_its_field(gateway: Gateway) -> None:
    created = gateway.api.call(
        "POST",
        "/v1/contacts",
        gateway.keys.manager(A),
        {"kind": "person", "fields": {"email": f"{uuid.uuid4().hex[:12]}@example.org"}},
    )
    contact_id = created.json["contact"]["id"]
    user = admin_console(gateway)
    page = view_as(user, contact=contact_id, component=A, level="emperor")
    assert page.status == 400
    assert 'id="e-level"' in page.html and f'value="{contact_id}"' in page.html
    wrong = view_as(user, contact=contact_id, component="nowhere")
    assert wrong.status == 400 and 'id="e-component"' in wrong.html


def test_an_admin_edits_a_policy_with_errors_next_to_the_grants(gateway: Gateway) -> None:
    field = declare(gateway, A, "note_console")
    admin_token = gateway.keys.admin()

    def policy_via_api() -> dict[str, object] | None:
        reply = gateway.api.call("GET", "/v1/field-policies?page_size=1000", admin_token)
        found = [p for p in reply.json["policies"] if p["field"] == field]
        return found[0] if found else None

    user = admin_console(gateway)
    form = user.get(f"/console/admin/field-policies/edit?field={field}&lang=en")
    assert form.status == 200 and f'value="{field}"' in form.html

    # Without its CSRF token: refused, nothing written.
    forged = user.post(
        "/console/admin/field-policies/edit",
        {"field": field, "read": "grouping", "write": "owner"},
        csrf=False,
    )
    assert forged.status in (400, 403) and policy_via_api() is None

    garbled = user.post(
        "/console/admin/field-policies/edit",
        {"field": field, "read": "owner\neverybody", "write": "owner"},
    )
    assert garbled.status == 400 and 'id="e-read"' in garbled.html
    assert "line 2" in garbled.text and "everybody" in garbled.html  # what was typed is kept
    assert policy_via_api() is None

    user.get(f"/console/admin/field-policies/edit?field={field}&lang=en")
    unknown = user.post(
        "/console/admin/field-policies/edit",
        {"field": field, "read": "owner\nmembers level=emperor", "write": "owner"},
    )
    assert unknown.status == 400 and 'id="e-read"' in unknown.html
    assert "line 2" in unknown.text and "min_level" in unknown.text
    assert policy_via_api() is None

    user.get(f"/console/admin/field-policies/edit?field={field}&lang=en")
    saved = user.post(
        "/console/admin/field-policies/edit",
        {"field": field, "read": f"owner\ncomponents={B}", "write": "owner"},
    )
    assert saved.status == 303, saved.text
    history = user.get(saved.location)
    assert "Policy saved." in history.text and f"Components: {B}" in history.text
    assert policy_via_api() == {
        "field": field,
        "read": [{"audience": "owner"}, {"audience": "components", "components": [B]}],
        "write": [{"audience": "owner"}],
        "aggregate": [],  # the form left the aggregate grants empty: nobody aggregates beyond
    }
    again = user.get(f"/console/admin/field-policies/edit?field={field}")
    assert f"components={B}" in again.html  # the form shows the policy in force
