"""Every main console page, in Chromium, on a desktop screen and on a phone (375 x 812):
a screenshot of each as an artefact, no serious or critical axe-core violation, no
horizontal scroll on the phone, its heading and main action within the screen's width,
and touch targets of at least 44 px."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.conftest import COMPONENT_A, World
from tests.support import browser
from tests.support.console import ConsoleClient, person

# Controls a finger must hit (inline links inside text are exempt, as in WCAG 2.5.8).
TARGETS = (
    "button, .button, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), "
    "select, textarea, header nav a, .pager a, .languages a"
)
MAIN_ACTION = "main .button, main button[type=submit], main a.tile"


def pages(world: World) -> dict[str, tuple[dict[str, Any], list[tuple[str, str]]]]:
    """Who signs in, and the (name, path) of the pages they open."""
    contact = world.new_contact(world.a)
    world.grant(world.a, contact["id"])
    campaign = world.campaign(world.a, [contact["id"]])["id"]
    kind_dimension(world)
    by_kind = "/console/indicators/?statistic=count&measure=&scope=grouping&d1=kind"
    manager = person(COMPONENT_A, ["campaign_manager", "contact_editor"], email="m@univ.example")
    return {
        "manager": (
            manager,
            [
                ("home", "/console/"),
                ("campaigns-list", "/console/campaigns/"),
                ("campaigns-compose", "/console/campaigns/new"),
                ("campaigns-campaign", f"/console/campaigns/{campaign}"),
                ("campaigns-preview", f"/console/campaigns/{campaign}/preview"),
                ("campaigns-report", f"/console/campaigns/{campaign}/report"),
                ("contacts-search", "/console/contacts/"),
                ("contacts-contact", f"/console/contacts/{contact['id']}"),
                ("indicators", "/console/indicators/"),
                ("indicators-result", by_kind.replace("grouping", "reach")),
                ("pressure-dashboard", "/console/pressure/dashboard/"),
            ],
        ),
        "communication": (
            person(None, "communication", email="com@univ.example"),
            [
                ("indicators-grouping", by_kind),
                ("pressure-dashboard-grouping", "/console/pressure/dashboard/?component="),
            ],
        ),
        "admin": (
            person(None, "admin", email="admin@univ.example"),
            [
                ("admin-index", "/console/admin/"),
                ("admin-organisation", "/console/admin/organisation"),
                ("admin-policies", "/console/admin/field-policies"),
                ("admin-view-as", "/console/admin/view-as"),
                ("admin-pressure", "/console/admin/pressure"),
                ("admin-purposes", "/console/admin/purposes"),
                ("admin-policy-edit", "/console/admin/field-policies/edit?field=email"),
                ("admin-dimensions", "/console/admin/indicators/dimensions"),
                ("admin-dimension-edit", "/console/admin/indicators/dimensions?edit=kind"),
                ("admin-rules", "/console/admin/indicators/rules"),
            ],
        ),
        "dpo": (
            person(None, "dpo", email="dpo@univ.example"),
            [
                ("privacy-index", "/console/privacy/"),
                ("privacy-requests", "/console/privacy/requests"),
                ("privacy-receipts", "/console/privacy/receipts"),
            ],
        ),
        "component-dpo": (
            person(COMPONENT_A, "dpo", email="dpo-a@univ.example"),
            [("privacy-audit", "/console/privacy/audit")],
        ),
    }


def kind_dimension(world: World) -> None:
    """The dimension the indicator pages group by, made through the admin's console form."""
    assert world.mesh.provider is not None
    admin = ConsoleClient(world.mesh.gateway_url, world.mesh.provider)
    admin.sign_in(person(None, "admin", email="admin@univ.example"))
    admin.get("/console/admin/indicators/dimensions")
    form = {"id": "kind", "label_fr": "Type", "label_en": "Kind", "source": "kind", "field": ""}
    saved = admin.post("/console/admin/indicators/dimensions", form)
    assert saved.status == 303, saved.html


def small_targets(driver: Any) -> list[str]:
    found = driver.execute_script(
        """
        const small = [];
        for (const el of document.querySelectorAll(arguments[0])) {
          const box = el.getBoundingClientRect();
          if (box.width === 0 && box.height === 0) continue;  // hidden (e.g. a closed fold)
          if (box.height < 44 || box.width < 44) small.push(
            el.tagName + '#' + (el.id || '') + '.' + el.className + ' ' +
            Math.round(box.width) + 'x' + Math.round(box.height));
        }
        return small;
        """,
        TARGETS,
    )
    return list(found)


def outside(driver: Any, css: str) -> list[str]:
    """Elements matching `css` that reach beyond the screen's right edge."""
    found = driver.execute_script(
        """
        const out = [];
        for (const el of document.querySelectorAll(arguments[0])) {
          const box = el.getBoundingClientRect();
          if (box.width && box.right > window.innerWidth + 1)
            out.push(el.tagName + ' ' + el.textContent.trim().slice(0, 40));
        }
        return out;
        """,
        css,
    )
    return list(found)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_every_main_page_is_accessible_and_fits_the_screen(world: World, screen: str) -> None:
    browser.require()
    provider = world.mesh.provider
    assert provider is not None
    base = world.mesh.gateway_url
    phone = screen == "phone"
    failures: list[str] = []
    for claims, visited in pages(world).values():
        size = {"width": 375, "height": 812, "mobile": True} if phone else {}
        with browser.chromium(**size) as driver:
            browser.sign_in(driver, base, provider, claims)
            for name, path in visited:
                driver.get(base + path)
                heading = driver.find_element(By.TAG_NAME, "h1")
                assert heading.is_displayed(), f"{name}: no heading"
                assert "/console/login" not in driver.current_url, f"{name}: not signed in"
                browser.screenshot(driver, f"console-{screen}-{name}")
                violations = browser.axe_violations(driver)
                if violations:
                    failures.append(f"{name}: {browser.describe(violations)}")
                if not phone:
                    continue
                overflow = browser.horizontal_overflow(driver)
                if overflow:
                    failures.append(f"{name}: scrolls {overflow}px sideways")
                if not driver.find_elements(By.CSS_SELECTOR, MAIN_ACTION) and name != "home":
                    failures.append(f"{name}: no main action")
                beyond = outside(driver, f"h1, {MAIN_ACTION}")
                if beyond:
                    failures.append(f"{name}: beyond the screen: {beyond}")
                small = small_targets(driver)
                if small:
                    failures.append(f"{name}: targets under 44px: {small[:5]}")
    assert not failures, "\n".join(failures)
