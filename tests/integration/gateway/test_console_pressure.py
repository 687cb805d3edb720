"""The console's pressure pages over real HTTP: a contact's slots per rule for its readers, the
admin's policy page with its simulation, and the purposes catalogue (admins only)."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway
from tests.support.console import ConsoleClient, person

pytestmark = [
    pytest.mark.shared_gateway,  # one mesh for the console modules (conftest.py)
    pytest.mark.skipif(
        not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
    ),
]
WEEK = 604_800
RULES = [
    {"id": "grouping-weekly", "scope": "grouping", "scope_value": "", "max_messages": 5,
     "window_seconds": WEEK},
    {"id": "email-weekly", "scope": "channel", "scope_value": "email", "max_messages": 3,
     "window_seconds": WEEK},
    {"id": "phone-weekly", "scope": "channel", "scope_value": "phone", "max_messages": 2,
     "window_seconds": WEEK},
]  # fmt: skip
GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "component",
    "source": "web-form",
    "text_shown": "Je souhaite recevoir la lettre de la faculté.",
}


def labels(html: str) -> dict[str, int]:
    """The values the charts of a page write next to their bars (data-key -> data-value)."""
    found = re.findall(r'class="chart-label" data-key="([^"]+)" data-value="([0-9.]+)"', html)
    return {key: int(float(value)) for key, value in found}


@pytest.fixture(scope="module")
def contact(gateway: Gateway) -> str:
    """A's contact, consenting to A's newsletter, with one phone call and one email recorded
    under a policy without quiet hours (so nothing here depends on the time of day)."""
    admin = gateway.keys.admin()
    version = gateway.api.call("GET", "/v1/pressure-policy", admin).json["version"]
    policy = {"rules": RULES, "min_gap_seconds": 0, "quiet_dates": [],
              "default_time_zone": "Europe/Paris"}  # fmt: skip
    put = gateway.api.call(
        "PUT", "/v1/pressure-policy", admin, policy, headers={"If-Match": f'"{version}"'}
    )
    assert put.status == 200, put.text
    manager = gateway.keys.manager(A)
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    created = gateway.api.call(
        "POST", "/v1/contacts", manager, {"kind": "person", "fields": {"email": email}}
    )
    assert created.status == 201, created.text
    contact_id = str(created.json["contact"]["id"])
    granted = gateway.api.call("POST", f"/v1/contacts/{contact_id}/consents", manager, GRANT)
    assert granted.status in (200, 201), granted.text
    for channel in ("phone", "email"):
        recorded = gateway.api.call(
            "POST", f"/v1/contacts/{contact_id}/interactions", manager, {"channel": channel}
        )
        assert recorded.status == 201, recorded.text
    return contact_id


@pytest.fixture(scope="module")
def campaign(gateway: Gateway, contact: str) -> str:
    body = {
        "name": "Rentrée",
        "purpose": "newsletter",
        "subject_template": "Bonjour",
        "body_template": "À bientôt.",
        "audience": {"contact_ids": [contact]},
    }
    created = gateway.api.call("POST", "/v1/campaigns", gateway.keys.manager(A), body)
    assert created.status == 201, created.text
    return str(created.json["id"])


def signed_in(gateway: Gateway, claims: dict[str, Any]) -> ConsoleClient:
    user = gateway.console()
    assert user.sign_in(claims).status == 200
    return user


def test_the_pressure_page_shows_used_and_limit_per_rule(gateway: Gateway, contact: str) -> None:
    user = signed_in(gateway, person(A, ["campaign_manager", "contact_editor"]))
    page = user.get(f"/console/contacts/{contact}/pressure")
    assert page.status == 200, page.text
    # An interaction counts under its channel's rules only, not under the grouping's.
    assert labels(page.html) == {"grouping-weekly": 0, "email-weekly": 1, "phone-weekly": 1}
    assert "1/2" in page.text and "1/3" in page.text and "0/5" in page.text
    assert page.html.count("<h1") == 1 and "<h2" in page.html

    admin = signed_in(gateway, person(None, "admin"))
    assert labels(admin.get(f"/console/contacts/{contact}/pressure").html)["phone-weekly"] == 1


def test_another_component_does_not_see_the_pressure(gateway: Gateway, contact: str) -> None:
    stranger = signed_in(gateway, person(B, ["campaign_manager", "contact_editor"]))
    refused = stranger.get(f"/console/contacts/{contact}/pressure")
    unknown = stranger.get(f"/console/contacts/{uuid.uuid4()}/pressure")
    assert refused.status == unknown.status == 404
    assert "phone-weekly" not in refused.html


def test_the_admin_pages_are_refused_to_non_admins(gateway: Gateway) -> None:
    manager = signed_in(gateway, person(A, ["campaign_manager", "contact_editor"]))
    dpo = signed_in(gateway, person(None, "dpo"))
    for user in (manager, dpo):
        for path in ("/console/admin/pressure", "/console/admin/purposes"):
            assert user.get(path).status == 403, path
    anonymous = gateway.console()
    assert anonymous.get("/console/admin/pressure").status == 302  # to the sign-in page


def test_the_admin_reads_the_policy_and_the_purposes(gateway: Gateway, contact: str) -> None:
    admin = signed_in(gateway, person(None, "admin"))
    page = admin.get("/console/admin/pressure")
    assert page.status == 200, page.text
    for rule in RULES:
        assert rule["id"] in page.text
    assert 'name="rules-3-id"' in page.html  # the rules in force, then an empty row to add one
    purposes = admin.get("/console/admin/purposes")
    assert purposes.status == 200, purposes.text
    assert "newsletter" in purposes.text


def simulate(user: ConsoleClient, campaign_id: str, max_messages: str) -> Any:
    query = {
        "campaign_id": campaign_id,
        "rules-0-id": "email-strict",
        "rules-0-scope": "channel",
        "rules-0-scope_value": "email",
        "rules-0-max_messages": max_messages,
        "rules-0-window_seconds": str(WEEK),
        "rules-1-id": "",  # the empty row: ignored
        "min_gap_seconds": "0",
    }
    return user.get(f"/console/admin/pressure?{urlencode(query)}")


def test_the_simulation_form_shows_the_counts(gateway: Gateway, campaign: str) -> None:
    admin = signed_in(gateway, person(None, "admin"))
    page = simulate(admin, campaign, "1")
    assert page.status == 200, page.text
    counts = labels(page.html)
    # In force: 1 of 3 email slots used, the mail may leave; candidate: 1 of 1, deferred.
    assert counts == {
        "current_send": 1,
        "current_deferred": 0,
        "candidate_send": 0,
        "candidate_deferred": 1,
    }
    assert "pressure:email-strict:1/604800s" in page.text
    # Nothing was written: the policy in force is unchanged, and so are the counters.
    again = simulate(admin, campaign, "1")
    assert labels(again.html) == counts
    contact_page = admin.get("/console/admin/pressure")
    assert "email-strict" not in contact_page.text


def test_a_bad_rule_is_shown_next_to_its_field(gateway: Gateway, campaign: str) -> None:
    admin = signed_in(gateway, person(None, "admin"))
    page = simulate(admin, campaign, "0")
    assert page.status == 400
    assert 'id="e-rules-0-max_messages"' in page.html
    assert 'value="email-strict"' in page.html  # what was typed is kept
    assert simulate(admin, str(uuid.uuid4()), "1").status == 404
    manager = signed_in(gateway, person(A, ["campaign_manager", "contact_editor"]))
    assert simulate(manager, campaign, "1").status == 403


def test_the_rpcs_behind_the_pages_refuse_the_same_over_grpc(
    gateway: Gateway, contact: str, campaign: str
) -> None:
    import grpc

    from protos.crm.campaigns.v1 import pressure_pb2, pressure_pb2_grpc

    def call(token: str, method: str, request: Any) -> grpc.StatusCode:
        with grpc.insecure_channel(gateway.targets["campaigns"]) as channel:
            stub = pressure_pb2_grpc.PressurePolicyServiceStub(channel)
            try:
                getattr(stub, method)(
                    request, metadata=[("authorization", f"Bearer {token}")], timeout=10
                )
            except grpc.RpcError as error:
                return error.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    status = pressure_pb2.GetContactPressureRequest(contact_id=contact)
    assert call(gateway.keys.manager(A), "GetContactPressure", status) == grpc.StatusCode.OK
    assert call(gateway.keys.manager(B), "GetContactPressure", status) == (
        grpc.StatusCode.NOT_FOUND
    )
    simulation = pressure_pb2.SimulatePressureRequest(campaign_id=campaign)
    simulation.policy.rules.add(
        id="g", scope=pressure_pb2.PRESSURE_SCOPE_GROUPING, max_messages=1, window_seconds=WEEK
    )
    assert call(gateway.keys.manager(A), "SimulatePressure", simulation) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert call(gateway.keys.admin(), "SimulatePressure", simulation) == grpc.StatusCode.OK


def test_an_admin_publishes_a_notice_and_a_forged_post_changes_nothing(gateway: Gateway) -> None:
    admin = signed_in(gateway, person(None, "admin"))
    assert admin.get("/console/admin/purposes").status == 200
    text = f"Mention {uuid.uuid4().hex[:8]} : vos données servent à la lettre."
    form = {"purpose": "newsletter", "language": "fr", "text": text}
    forged = admin.post("/console/admin/purposes/notices", form, csrf=False)
    assert forged.status == 400
    assert text not in admin.get("/console/admin/purposes").text  # nothing was published
    published = admin.post("/console/admin/purposes/notices", form)
    assert published.status == 303, published.text
    assert published.location.endswith("/console/admin/purposes")
    assert text in admin.get("/console/admin/purposes").text

    refused = admin.post("/console/admin/purposes/notices", form | {"text": ""})
    assert refused.status == 400
    assert 'id="e-text"' in refused.html or 'class="errors"' in refused.html
    manager = signed_in(gateway, person(A, ["campaign_manager", "contact_editor"]))
    manager.get("/console/")
    assert manager.post("/console/admin/purposes/notices", form).status == 403
