"""Signing in to the console in a real Chromium, through the identity provider, with the
console's own Content-Security-Policy in force (a form whose answer redirected to the
provider would be stopped by `form-action 'self'`: the sign-in must still work)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import COMPONENT_A, World
from tests.support import browser
from tests.support.console import person


def test_a_manager_signs_in_through_the_provider_and_out_again(world: World) -> None:
    browser.require()
    provider = world.mesh.provider
    assert provider is not None
    claims = person(COMPONENT_A, "campaign_manager", email="sso@univ.example")
    base = world.mesh.gateway_url
    with browser.chromium() as driver:
        # Signed out on a page: sent to sign in, through the provider, then back.
        browser.sign_in(driver, base, provider, claims, "/console/campaigns/")
        assert "sso@univ.example" in driver.find_element(By.TAG_NAME, "header").text
        cookie = driver.get_cookie("crm_console")
        assert cookie is not None and cookie["httpOnly"] and cookie["secure"]
        assert cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
        browser.screenshot(driver, "console-sign-in-landed")
        driver.find_element(By.CSS_SELECTOR, "header form button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: "signed_out=1" in d.current_url)
        # The single sign-on session too, through the provider's end-session endpoint.
        ended = len(provider.logouts)
        browser.click_through(driver, driver.find_element(By.ID, "sso-logout"))
        WebDriverWait(driver, 30).until(lambda d: d.current_url == f"{base}/console/login")
        assert provider.logouts[ended:] == [
            {"client_id": "crm-console", "post_logout_redirect_uri": f"{base}/console/login"}
        ]
        driver.get(f"{base}/console/")
        assert "/console/login" in driver.current_url  # the session is gone
        assert browser.axe_violations(driver) == [], browser.describe(
            browser.axe_violations(driver)
        )
