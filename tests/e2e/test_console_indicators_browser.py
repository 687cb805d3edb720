"""The indicators journey in a real browser on a phone (headless Chromium, 375 x 812): the
communication team's member follows the navigation to the indicators, fills in the form
like a person would (a count of contacts by kind over the grouping), submits it, and reads
the answer: a URL that holds the query, a table whose every cell is a figure or a reason
in words, the rules applied, a CSV link; no horizontal scroll, no serious accessibility
violation, a screenshot of the form and of the answer."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World
from tests.e2e.test_console_pages import kind_dimension
from tests.support import browser
from tests.support.console import person


@pytest.fixture(scope="module")
def population(world: World) -> None:
    """A few people in each component, and the dimension the journey groups by."""
    for token in (world.a, world.b):
        for _ in range(3):
            world.new_contact(token)
    kind_dimension(world)


def test_a_communication_officer_asks_an_indicator_on_a_phone(
    world: World, population: None
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.require()
    provider = world.mesh.provider
    assert provider is not None
    base = world.mesh.gateway_url
    with browser.chromium(375, 812, mobile=True) as driver:
        browser.sign_in(driver, base, provider, person(None, "communication", email="c@u.example"))
        menu = driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/console/indicators/"]')
        browser.click_through(driver, menu)
        assert driver.find_elements(By.ID, "cells") == []  # nothing asked yet
        browser.screenshot(driver, "console-phone-indicators-form")
        Select(driver.find_element(By.ID, "f-statistic")).select_by_value("count")
        Select(driver.find_element(By.ID, "f-scope")).select_by_value("grouping")
        Select(driver.find_element(By.ID, "f-d1")).select_by_value("kind")
        driver.find_element(By.CSS_SELECTOR, "#indicator-form button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "result"))

        assert "statistic=count" in driver.current_url and "d1=kind" in driver.current_url
        rows = driver.find_elements(By.CSS_SELECTOR, "#cells tbody tr")
        assert rows, driver.page_source[:2000]
        words = [r.find_element(By.CSS_SELECTOR, "td.figure").text for r in rows]
        for row, text in zip(rows, words, strict=True):
            if row.get_attribute("data-published") == "true":
                assert text.isdigit(), text
            else:
                assert text.startswith(("masqué", "hidden")), text
        # Total margin: at least the grand total, labelled in words.
        assert any("Total" in r.text for r in rows)
        assert driver.execute_script("return window.scrollY") > 0  # landed on the answer
        rules = driver.find_element(By.ID, "rules")
        assert rules.get_attribute("data-k") and rules.is_displayed()
        csv_link = driver.find_element(By.ID, "csv")
        assert csv_link.is_displayed() and "indicators.csv" in csv_link.get_attribute("href")
        assert browser.horizontal_overflow(driver) == 0
        browser.screenshot(driver, "console-phone-indicators-answer")
        found = browser.axe_violations(driver)
        assert found == [], browser.describe(found)
