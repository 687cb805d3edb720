"""The data-protection officer's console pages in headless Chromium, against the whole mesh.

The grouping's DPO (no component) follows privacy requests; a component's DPO
reads the audit of sensitive reads and a consent receipt. Each page is
screenshot as an artefact and passes axe-core with no serious or critical
violation.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World
from tests.support import browser
from tests.support.console import person


def sign_in(driver: Any, world: World, claims: dict[str, Any]) -> None:
    """Through the test provider, as a person would: the console's SSO link."""
    assert world.mesh.provider is not None
    browser.sign_in(driver, world.mesh.gateway_url, world.mesh.provider, claims, "/console/")
    driver.get(f"{world.mesh.gateway_url}/console/?lang=en")


def open_page(driver: Any, world: World, path: str) -> str:
    driver.get(f"{world.mesh.gateway_url}{path}")
    return str(driver.find_element(By.TAG_NAME, "main").text)


def accessible(driver: Any, name: str) -> None:
    browser.screenshot(driver, name)
    violations = browser.axe_violations(driver)
    assert violations == [], browser.describe(violations)


def test_the_grouping_dpo_follows_privacy_requests_in_a_browser(world: World) -> None:
    browser.require()
    contact = world.new_contact(world.a)
    grouping_dpo = world.mesh.keys.issuer.mint("dpo@grouping", roles=["dpo"])
    body = {"kind": "access", "contact_id": contact["id"]}
    opened = world.api.call("POST", "/v1/privacy-requests", grouping_dpo, body)
    assert opened.status == 202, opened.text
    request_id = opened.json["id"]
    with browser.chromium() as driver:
        sign_in(driver, world, person(None, "dpo", email="dpo@univ.example"))
        listing = open_page(driver, world, "/console/privacy/requests?lang=en")
        assert request_id in listing and contact["id"] in listing
        assert opened.json["deadline"][:10] in listing
        accessible(driver, "console-privacy-requests")
        driver.find_element(By.LINK_TEXT, request_id).click()
        WebDriverWait(driver, 30).until(lambda d: request_id in d.current_url)
        detail = str(driver.find_element(By.TAG_NAME, "main").text)
        assert contact["id"] in detail and "Progress per service" in detail
        parts = driver.find_elements(By.CSS_SELECTOR, "#privacy-steps tbody tr")
        assert len(parts) == len(opened.json["steps"]) > 0
        accessible(driver, "console-privacy-request")
        # The contact's email never shows: the request names the person by id only.
        assert contact["email"] not in driver.page_source


def test_a_component_dpo_reads_the_audit_and_a_receipt_in_a_browser(world: World) -> None:
    browser.require()
    contact = world.new_contact(world.a)
    read = world.api.call("GET", f"/v1/contacts/{contact['id']}", world.a)
    assert read.status == 200, read.text
    grant = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "component",
        "source": "web-form",
        "text_shown": "Je souhaite recevoir la lettre des sciences.",
    }
    granted = world.api.call("POST", f"/v1/contacts/{contact['id']}/consents", world.a, grant)
    assert granted.status == 201, granted.text
    event_id = granted.json["id"]
    with browser.chromium() as driver:
        sign_in(driver, world, person(COMPONENT_A, "dpo", email="dpo.a@univ.example"))
        audit = open_page(driver, world, f"/console/privacy/audit?contact_id={contact['id']}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#sensitive-reads tbody tr")
        assert rows and contact["id"] in audit
        accessible(driver, "console-privacy-audit")
        open_page(driver, world, "/console/privacy/receipts?lang=en")
        field = driver.find_element(By.ID, "f-event_id")
        field.send_keys(event_id)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "receipt"))
        receipt = str(driver.find_element(By.ID, "receipt").text)
        assert grant["text_shown"] in receipt and contact["id"] in receipt
        link = driver.find_element(By.PARTIAL_LINK_TEXT, "signed receipt")
        assert link.get_attribute("href").endswith(f"/console/privacy/receipts/{event_id}.jwt")
        accessible(driver, "console-privacy-receipt")
    # Another component's DPO: none of A's reads in their audit.
    with browser.chromium() as driver:
        sign_in(driver, world, person(COMPONENT_B, "dpo", email="dpo.b@univ.example"))
        open_page(driver, world, f"/console/privacy/audit?contact_id={contact['id']}")
        assert not driver.find_elements(By.CSS_SELECTOR, "#sensitive-reads tbody tr")
        assert contact["id"] not in driver.find_element(By.TAG_NAME, "main").text
