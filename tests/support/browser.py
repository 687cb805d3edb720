"""Headless Chromium driven by Selenium, for the console's browser tests.

Uses the operating system's Chromium and ChromeDriver (Debian packages
`chromium` and `chromium-driver`; `.ci/run` installs them); Selenium's own
driver download is never used. A browser is reused from test to test, wiped
in between (`chromium()`; `close_all()` quits them). Screenshots go to the artefact folder
(`CRM_TEST_ARTEFACTS`, default `test-artefacts/`), so a test run leaves a
picture of each main page. `axe_violations()` runs the vendored axe-core in
the page and returns its serious and critical findings.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CRM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CRM_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")

# Flags the machine's closed network needs (no background connections to Google's hosts).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--password-store=basic",
)


def artefacts() -> Path:
    """Where screenshots go (made on first use)."""
    folder = Path(os.environ.get("CRM_TEST_ARTEFACTS", "test-artefacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def require() -> None:
    """Skips, naming what to install, when the machine has no Chromium (CI installs it)."""
    if not available():
        pytest.skip(
            "Chromium and ChromeDriver are not installed (apt install chromium chromium-driver)"
        )


# Idle browsers, by (width, height, mobile): a test gets one back wiped clean instead of
# starting its own (a start and quit cost seconds on a busy two-core machine).
_idle: dict[tuple[int, int, bool], Any] = {}


@contextmanager
def chromium(width: int = 1280, height: int = 900, mobile: bool = False) -> Iterator[Any]:
    """A headless Chromium as fresh as a new one: no cookies, cache or page from earlier use.

    `mobile` emulates a phone of `width` x `height` CSS pixels (touch, device pixel ratio 2).
    Browsers are reused within a run (`close_all()` quits them): one is handed out only
    after `_wipe` cleared it, never to two users at once, and never again after a test
    failed with it (that one is quit).
    """
    key = (width, height, mobile)
    driver = _idle.pop(key, None) or _start(width, height, mobile)
    try:
        yield driver
    except BaseException:
        _quit(driver)
        raise
    if _wipe(driver):
        previous = _idle.pop(key, None)  # another test of the same size returned one first
        if previous is not None:
            _quit(previous)
        _idle[key] = driver
    else:
        _quit(driver)


def close_all() -> None:
    """Quits every idle browser (the end of the browser tests)."""
    while _idle:
        _quit(_idle.popitem()[1])


def _start(width: int, height: int, mobile: bool) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="crm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--lang=fr-FR")
    if mobile:
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": True}},
        )
    else:
        options.add_argument(f"--window-size={width},{height}")
    driver: Any = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.crm_profile = profile  # removed by _quit
    driver.crm_window = None if mobile else (width, height)
    return driver


def _wipe(driver: Any) -> bool:
    """Brings a used browser back to a new one's state; False when it cannot be trusted.

    One window on about:blank, the size it started with, and no cookies, cache or
    storage for any site (the console and the identity provider keep state in cookies
    only; the storage of the last page's origin is cleared as well).
    """
    try:
        used = driver.window_handles
        driver.switch_to.window(used[0])
        origin = driver.execute_script("return window.location.origin")
        if isinstance(origin, str) and origin.startswith("http"):
            driver.execute_cdp_cmd(
                "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
            )
        driver.switch_to.new_window("tab")  # a tab without history
        fresh = driver.current_window_handle
        for handle in used:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(fresh)
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        if driver.crm_window is not None:
            driver.set_window_size(*driver.crm_window)
        left = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        return bool(left == [] and len(driver.window_handles) == 1)
    except Exception:  # a crashed or hung browser: the next test gets a new one
        return False


def _quit(driver: Any) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.crm_profile, ignore_errors=True)


def screenshot(driver: Any, name: str) -> Path:
    """Saves the whole page as `<name>.png` in the artefact folder; returns the file."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = artefacts() / f"{safe}.png"
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def axe_violations(driver: Any, serious_only: bool = True) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (serious and critical ones by default).

    The script is injected through the driver (DevTools), which the page's
    Content-Security-Policy does not restrict; the page itself is unchanged.
    """
    driver.execute_script(_axe_source())
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations)))"
        ".catch(e => done(JSON.stringify({error: String(e)})));"
    )
    found = json.loads(result)
    if isinstance(found, dict):
        raise AssertionError(f"axe-core failed: {found['error']}")
    if serious_only:
        found = [v for v in found if v.get("impact") in SERIOUS]
    return found


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per violation and node, for an assertion message."""
    lines = []
    for violation in violations:
        for node in violation.get("nodes", [])[:5]:
            where = node.get("target")
            lines.append(f"{violation['id']} ({violation['impact']}): {where} {violation['help']}")
    return "\n".join(lines)


def horizontal_overflow(driver: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return int(
        driver.execute_script(
            "return Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
        )
    )


def chart_counts(driver: Any, css: str = "svg.chart-bars") -> dict[str, int]:
    """{data-key: value} read off the labels of the first chart matching `css`."""
    from selenium.webdriver.common.by import By

    chart = driver.find_element(By.CSS_SELECTOR, css)
    counts = {}
    for label in chart.find_elements(By.CSS_SELECTOR, "text.chart-label"):
        counts[label.get_attribute("data-key")] = int(float(label.get_attribute("data-value")))
    return counts


def sign_in(
    driver: Any, base: str, provider: Any, claims: dict[str, Any], path: str = "/console/"
) -> None:
    """Signs in through the identity provider (the #sso link), as a person would, and lands
    on `path` (the console sends a signed-out visitor to sign in, then back)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    provider.login_as(**claims)
    driver.get(base + "/console/login")
    driver.delete_all_cookies()  # whoever was signed in before is not any more
    driver.get(base + path)
    driver.find_element(By.ID, "sso").click()
    WebDriverWait(driver, 30, poll_frequency=0.1).until(lambda d: d.current_url == base + path)


def click_through(driver: Any, element: Any, timeout: float = 30) -> None:
    """Clicks `element` (a link or a submit button) and waits until the page it was on has
    been replaced: reading the next page straight after `click()` may read the old one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    before = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: _stale(before))


def _stale(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.tag_name  # noqa: B018 - raises once the page was replaced
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        # Mid-navigation Chromium may answer for the old page's node with an inspector error
        # ("Node with given id does not belong to the document") instead of "stale": the
        # page is being replaced all the same (seen once in CI, Chromium 156).
        if "does not belong to the document" in str(error):
            return True
        raise
    return False
