"""The admin pages in headless Chromium: an admin signs in through the identity provider,
opens the organisation tree, the field policies and "view as", each page screenshotted
and checked by axe-core (no serious or critical violation)."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World
from tests.support import browser
from tests.support.console import person

MARKER = "owner-only-e2e-6021"


def sign_in(driver: Any, world: World) -> None:
    """Signs the browser in as a grouping admin through the test identity provider (#sso)."""
    provider = world.mesh.provider
    assert provider is not None
    claims = person(None, "admin", email="admin@univ.example")
    browser.sign_in(driver, world.api.base, provider, claims, "/console/admin/")
    assert "admin@univ.example" in driver.page_source, "the browser is not signed in"


def accessible(driver: Any, name: str) -> None:
    browser.screenshot(driver, name)
    violations = browser.axe_violations(driver)
    assert violations == [], browser.describe(violations)
    assert len(driver.find_elements(By.TAG_NAME, "h1")) == 1


def test_an_admin_walks_the_admin_pages(world: World) -> None:
    browser.require()
    attribute = f"{COMPONENT_A}.secret_e2e"
    reply = world.api.call(
        "PUT",
        f"/v1/components/{COMPONENT_A}/attributes/secret_e2e",
        world.admin,
        {"type": "text", "label_fr": "Secret", "label_en": "Secret"},
    )
    assert reply.status == 200, reply.text
    contact = world.new_contact(world.a, **{attribute: MARKER})

    with browser.chromium() as driver:
        sign_in(driver, world)
        base = f"{world.api.base}/console/admin"

        driver.get(f"{base}/?lang=en")
        assert "Administration" in driver.find_element(By.TAG_NAME, "h1").text
        accessible(driver, "console-admin-index")

        driver.get(f"{base}/organisation")
        tree = driver.find_element(By.ID, "org-components").find_element(By.XPATH, "..").text
        assert COMPONENT_A in tree and COMPONENT_B in tree
        accessible(driver, "console-admin-organisation")

        driver.get(f"{base}/field-policies")
        rows = driver.find_elements(By.CSS_SELECTOR, "#field-policies tbody tr")
        fields = {row.get_attribute("data-field") for row in rows}
        assert {"email", "first_name", attribute} <= fields
        accessible(driver, "console-admin-policies")

        # View as B, by the form (keyboard-reachable fields, no JavaScript needed).
        driver.get(f"{base}/view-as")
        driver.find_element(By.ID, "f-contact").send_keys(contact["id"])
        Select(driver.find_element(By.ID, "f-component")).select_by_value(COMPONENT_B)
        driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
        WebDriverWait(driver, 30).until(
            expected_conditions.presence_of_element_located((By.ID, "view-as"))
        )
        assert MARKER not in driver.page_source
        accessible(driver, "console-admin-view-as")

        Select(driver.find_element(By.ID, "f-component")).select_by_value(COMPONENT_A)
        driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: MARKER in d.page_source)
