"""Signing in to the console served by a real gateway, through the OIDC provider every
service trusts; the organisation tree decides the placement, as for API tokens."""

from __future__ import annotations

import pytest

from tests.integration.gateway.harness import A, Gateway
from tests.support.console import fetch, person

pytestmark = pytest.mark.shared_gateway  # one mesh for the console modules (conftest.py)


def test_a_manager_signs_in_and_lands_on_the_home_page(gateway: Gateway) -> None:
    user = gateway.console()
    home = user.sign_in(person(A, ["campaign_manager", "contact_editor"], email="m@univ.example"))
    assert home.status == 200
    assert "m@univ.example" in home.text and A in home.text
    assert "/console/campaigns/" in home.html  # the areas a manager may open


def test_a_group_the_organisation_does_not_know_cannot_sign_in(gateway: Gateway) -> None:
    user = gateway.console()
    user.provider.login_as(**person("no-such-component", "campaign_manager"))
    started = user.get("/console/login/sso")
    back = fetch(started.location)
    refused = user.get(back.location)
    assert refused.status == 401
    assert user.get("/console/").status == 302  # no session was opened
