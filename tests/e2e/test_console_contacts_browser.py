"""The contact search and the contact page in a real browser (Debian's Chromium, headless),
against the mesh the test started: each page is screenshotted, has no serious or
critical accessibility violation, and B's browser never shows A's owner-only values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World
from tests.support import browser
from tests.support.console import person

pytestmark = pytest.mark.e2e


def _sign_in(driver: Any, world: World, component: str) -> None:
    """Signs in as a manager of `component` through the test identity provider (`#sso`)."""
    base = world.mesh.gateway_url
    claims = person(
        component, ["campaign_manager", "contact_editor"], email=f"m@{component}.example"
    )
    browser.sign_in(driver, base, world.mesh.provider, claims)
    driver.get(f"{base}/console/?lang=en")  # the session keeps the language
    assert f"m@{component}.example" in driver.page_source, driver.current_url


def _no_serious_violation(driver: Any) -> None:
    found = browser.axe_violations(driver)
    assert found == [], browser.describe(found)


def _shared_contact(world: World) -> tuple[dict[str, Any], list[str]]:
    """A person A and B are both members of; A's owner-only values hold markers."""
    key = f"note_{uuid.uuid4().hex[:6]}"
    reply = world.api.call(
        "PUT", f"/v1/components/{COMPONENT_A}/attributes/{key}", world.admin, {"type": "text"}
    )
    assert reply.status in (200, 201, 204), reply.text
    job, note, subject = (f"MK{uuid.uuid4().hex[:12]}" for _ in range(3))
    contact = world.new_contact(
        world.a,
        first_name="Ada",
        last_name="Martin",
        job_title=job,
        **{f"{COMPONENT_A}.{key}": note},
    )
    joined = world.api.call(
        "POST",
        "/v1/contacts",
        world.b,
        {"kind": "person", "fields": {"email": contact["email"], "first_name": "Dom"}},
    )
    assert joined.status == 200 and joined.json["contact"]["id"] == contact["id"], joined.text
    world.grant(world.a, contact["id"])
    recorded = world.api.call(
        "POST",
        f"/v1/contacts/{contact['id']}/interactions",
        world.a,
        {"channel": "phone", "subject": subject, "content": "Appel"},
    )
    assert recorded.status == 201, recorded.text
    return contact, [job, note, subject]


def test_search_and_contact_pages_in_a_browser(world: World) -> None:
    browser.require()
    from selenium.webdriver.common.by import By

    contact, markers = _shared_contact(world)
    base = world.mesh.gateway_url

    with browser.chromium() as driver:
        _sign_in(driver, world, COMPONENT_A)
        driver.get(f"{base}/console/contacts/")
        driver.find_element(By.ID, "f-f0_field").send_keys("email")
        driver.find_element(By.ID, "f-f0_equals").send_keys(contact["email"])
        browser.click_through(
            driver, driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]")
        )
        links = driver.find_elements(By.CSS_SELECTOR, "table.reflow tbody a")
        assert [a.get_attribute("href") for a in links] == [
            f"{base}/console/contacts/{contact['id']}"
        ]
        browser.screenshot(driver, "console-contacts-search")
        _no_serious_violation(driver)

        browser.click_through(driver, links[0])
        assert driver.find_element(By.TAG_NAME, "h1").text == "Ada M."
        source = driver.page_source
        assert all(m in source for m in markers)  # A sees its own values and notes
        assert (
            "newsletter" in driver.find_element(By.ID, "consent").find_element(By.XPATH, "..").text
        )
        browser.screenshot(driver, "console-contacts-contact")
        _no_serious_violation(driver)
        assert browser.horizontal_overflow(driver) == 0

    with browser.chromium() as driver:
        _sign_in(driver, world, COMPONENT_B)
        seen = []
        driver.get(f"{base}/console/contacts/?f0_field=email&f0_equals={contact['email']}")
        seen.append(driver.page_source)
        assert f"/console/contacts/{contact['id']}" in driver.page_source
        _no_serious_violation(driver)
        driver.get(f"{base}/console/contacts/{contact['id']}")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Dom"
        seen.append(driver.page_source)
        assert "hidden: sent by another component" in driver.page_source
        _no_serious_violation(driver)
        for page in seen:
            assert not [m for m in markers if m in page]
