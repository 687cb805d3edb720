"""The console's pressure pages in a real browser (headless Chromium): a contact's slots per
rule, the admin's policy page with a simulation filled in and submitted like a person would,
and the purposes catalogue; a screenshot of each, and no serious accessibility violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import COMPONENT_A, World
from tests.support import browser
from tests.support.console import person


def sign_in(world: World, driver: Any, claims: dict[str, Any], path: str) -> None:
    provider = world.mesh.provider
    assert provider is not None
    browser.sign_in(driver, world.mesh.gateway_url, provider, claims, path)


def accessible(driver: Any) -> None:
    found = browser.axe_violations(driver)
    assert found == [], browser.describe(found)


@pytest.fixture(scope="module")
def mailed(world: World) -> tuple[str, str]:
    """A contact of A mailed once (the world's policy: one mail per window), and a draft
    campaign to it and to a fresh consenting contact."""
    first = world.new_contact(world.a)
    fresh = world.new_contact(world.a)
    for contact in (first, fresh):
        world.grant(world.a, contact["id"])
    sent = world.campaign(world.a, [first["id"]])
    assert world.outcomes(world.a, world.send_and_wait(world.a, sent["id"])["id"]) == {
        first["id"]: "sent"
    }
    draft = world.campaign(world.a, [first["id"], fresh["id"]])
    return first["id"], draft["id"]


def test_a_manager_sees_the_contacts_pressure(world: World, mailed: tuple[str, str]) -> None:
    browser.require()
    contact_id, _ = mailed
    with browser.chromium() as driver:
        claims = person(COMPONENT_A, ["campaign_manager", "contact_editor"])
        sign_in(world, driver, claims, f"/console/contacts/{contact_id}/pressure")
        assert browser.chart_counts(driver, "svg.chart-slots") == {"grouping": 1}
        assert "1/1" in driver.page_source
        browser.screenshot(driver, "console-contacts-pressure")
        accessible(driver)


def test_an_admin_simulates_rules_and_reads_the_catalogue(
    world: World, mailed: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    browser.require()
    _, campaign_id = mailed
    with browser.chromium() as driver:
        sign_in(world, driver, person(None, "admin"), "/console/admin/pressure")
        assert "grouping" in driver.find_element(By.ID, "policy-rules").text
        driver.find_element(By.ID, "f-campaign_id").send_keys(campaign_id)
        limit = driver.find_element(By.ID, "f-rules-0-max_messages")
        limit.clear()
        limit.send_keys("2")  # one more mail per window than the policy in force
        driver.find_element(By.CSS_SELECTOR, "#simulation button[type=submit]").click()
        counts = browser.chart_counts(driver, "#simulation-result svg.chart-bars")
        assert counts == {
            "current_send": 1,
            "current_deferred": 1,  # the contact mailed already
            "candidate_send": 2,
            "candidate_deferred": 0,
        }
        browser.screenshot(driver, "console-admin-pressure")
        accessible(driver)

        driver.get(f"{world.mesh.gateway_url}/console/admin/purposes")
        assert "newsletter" in driver.find_element(By.ID, "purposes").text
        browser.screenshot(driver, "console-admin-purposes")
        accessible(driver)
