"""A campaign manager's journey through the console, in Chromium, against the real mesh.

Sign in through the identity provider, compose a campaign with the form
(audience picked from a contact search), read its reach off the preview
chart's labels, send it, find the mail at the test's SMTP server, read the
report; then another component's manager fails to reach any of it by editing
URLs. Each main page is screenshotted and checked with axe-core.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World
from tests.support import browser
from tests.support.console import person


def _sign_in(driver: Any, world: World, claims: dict[str, Any]) -> None:
    """Through the provider's #sso link, with the console's CSP in force."""
    assert world.mesh.provider is not None
    browser.sign_in(driver, world.mesh.gateway_url, world.mesh.provider, claims)
    assert driver.find_elements("css selector", "header nav")


def _check(driver: Any, name: str) -> None:
    """Screenshot as an artefact; no serious or critical accessibility violation."""
    browser.screenshot(driver, name)
    found = browser.axe_violations(driver)
    assert found == [], browser.describe(found)


def _click(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    browser.click_through(driver, driver.find_element(By.CSS_SELECTOR, css))


def _wait_counted(driver: Any) -> None:
    """Until the preview's reach is counted: its Refresh header reloads the page (no script)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    done = '#reach[data-status="done"]'
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, done))


def test_a_manager_composes_previews_and_sends_and_another_cannot_see_it(world: World) -> None:
    browser.require()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    family = f"Journey{uuid.uuid4().hex[:8]}"
    willing = [world.new_contact(world.a, last_name=family) for _ in range(2)]
    unwilling = world.new_contact(world.a, last_name=family)
    for contact in willing:
        world.grant(world.a, contact["id"])
    name = f"Console {family}"
    base = world.mesh.gateway_url

    with browser.chromium() as driver:
        claims = person(
            COMPONENT_A,
            ["campaign_manager", "contact_editor"],
            email=f"manager-{family.lower()}@univ.example",
        )
        _sign_in(driver, world, claims)

        driver.get(f"{base}/console/campaigns/")
        assert driver.find_element(By.TAG_NAME, "h1").text
        _check(driver, "console-campaigns-list")

        driver.get(f"{base}/console/campaigns/new")
        driver.find_element(By.ID, "f-name").send_keys(name)
        Select(driver.find_element(By.ID, "f-purpose")).select_by_value("newsletter")
        driver.find_element(By.ID, "f-subject_template").send_keys("Bonjour {{ first_name }}")
        driver.find_element(By.ID, "f-body_template").send_keys(
            "Bonjour {{ display_name }},\nÀ bientôt."
        )
        Select(driver.find_element(By.ID, "f-search_field")).select_by_value("last_name")
        driver.find_element(By.ID, "f-search_value").send_keys(family)
        _click(driver, 'button[name="action"][value="search"]')
        found = driver.find_elements(By.CSS_SELECTOR, '#results input[name="contact_ids"]')
        ids = {box.get_attribute("value") for box in found}
        assert ids == {c["id"] for c in willing} | {unwilling["id"]}
        # What was typed survived the search.
        assert driver.find_element(By.ID, "f-name").get_attribute("value") == name
        for box in found:
            box.click()
        _check(driver, "console-campaigns-compose")
        _click(driver, 'button[name="action"][value="save"]')

        campaign_id = driver.current_url.rstrip("/").rsplit("/", 1)[-1]
        assert driver.find_element(By.TAG_NAME, "h1").text == name
        status = driver.find_element(By.ID, "status").get_attribute("data-status")
        assert status == "draft"
        _check(driver, "console-campaigns-campaign")

        # The test send goes to the signed-in manager's own address, once.
        _click(driver, f'form[action="/console/campaigns/{campaign_id}/test-send"] button')
        assert driver.find_elements(By.CSS_SELECTOR, "p.notice")
        assert len(world.mesh.inbox.to(claims["email"])) == 1

        driver.get(f"{base}/console/campaigns/{campaign_id}/preview")
        # The reach is counted in the background; the page reloads itself until it is done.
        _wait_counted(driver)
        counts = browser.chart_counts(driver)
        assert counts == {"sent": 2, "no_consent": 1}
        rows = driver.find_elements(By.CSS_SELECTOR, "#recipients tbody tr")
        assert len(rows) == 3
        _check(driver, "console-campaigns-preview")

        driver.get(f"{base}/console/campaigns/{campaign_id}")
        _click(driver, f'form[action="/console/campaigns/{campaign_id}/send"] button')
        done = world.mesh.wait_done(world.a, campaign_id)
        assert done["outcome_counts"] == counts  # the preview said what happened
        for contact in willing:
            mails = world.mesh.inbox.to(contact["email"])
            assert len(mails) == 1 and mails[0]["Subject"] == "Bonjour Camille"
        assert world.mesh.inbox.to(unwilling["email"]) == []

        driver.get(f"{base}/console/campaigns/{campaign_id}/report")
        assert browser.chart_counts(driver, "#counts-chart svg") == counts
        sends = browser.chart_counts(driver, "#sends-chart svg")
        assert sum(sends.values()) == 2
        assert len(driver.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")) == 3
        _check(driver, "console-campaigns-report")

        driver.get(f"{base}/console/campaigns/")
        assert name in driver.find_element(By.ID, "campaigns").text

    with browser.chromium() as driver:
        intruder = person(
            COMPONENT_B, ["campaign_manager", "contact_editor"], email="b@univ.example"
        )
        _sign_in(driver, world, intruder)
        driver.get(f"{base}/console/campaigns/")
        assert name not in driver.page_source
        for suffix in ("", "/preview", "/report", "/edit"):
            driver.get(f"{base}/console/campaigns/{campaign_id}{suffix}")
            page = driver.page_source
            assert name not in page, suffix
            assert not driver.find_elements(By.CSS_SELECTOR, "svg.chart"), suffix
            assert not driver.find_elements(By.CSS_SELECTOR, "form[action$='/send']"), suffix
        for contact in [*willing, unwilling]:
            driver.get(f"{base}/console/contacts/{contact['id']}")
            assert contact["email"] not in driver.page_source
            assert family not in driver.page_source
