"""The pressure dashboard, the admin's dimensions and rules, the aggregate grant in the
field-policy form, the navigation and the shared form-errors helper, against fakes that
record every request."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from meshkit.errors import FieldViolation, InvalidArgument
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway.console import forms
from tests.support.console import person
from tests.support.oidc import TestProvider
from tests.unit.gateway.console.conftest import csrf_of, get, post
from tests.unit.gateway.console.fakes import (  # noqa: F401 (fixtures)
    SECRET,
    Fakes,
    fakes_fixture,
    settings_fixture,
)
from tests.unit.gateway.console.test_sign_in import sign_in


def chart_values(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="chart-label" data-key="([^"]*)" data-value="([^"]*)"', html))


def test_the_dashboard_draws_published_buckets_and_says_the_hidden_ones(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "communication", email="com@u.example"))
    page = get(browser, "/console/pressure/dashboard/?month=2026-10")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    (asked,) = fakes.pressure.requests
    assert asked.month == "2026-10" and asked.component == ""  # the grouping's
    assert SECRET not in html
    weekly = html[html.index('id="messages_per_week"') : html.index('id="messages_per_month"')]
    monthly = html[html.index('id="messages_per_month"') : html.index('id="h-breakdown"')]
    assert chart_values(weekly) == {"1": "700"}
    assert chart_values(monthly) == {"1": "210", "2": "120", "3": "60"}
    assert 'data-key="10+"' not in monthly  # hidden bucket: not drawn...
    assert 'data-bucket="10+" data-published="false"' in monthly  # ...but said
    assert "masqué : moins de 5 contacts" in html
    assert "10.0 %" in html  # 40 at a cap out of 400 reached
    assert 'id="breakdown"' in html and ">12<" in html
    breakdown = html[html.index('id="breakdown"') :]
    assert breakdown.index("sciences") < breakdown.index("Toutes</td>")  # the whole row last
    assert 'data-label="Contacts touchés"><span class="figure" data-value="400"' in breakdown
    assert 'value=""' in html and "Sciences (sciences)" in html  # grouping and components


def test_a_components_staff_see_their_component_by_default(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    page = get(browser, "/console/pressure/dashboard/")
    assert page.status_code == 200
    (asked,) = fakes.pressure.requests
    assert asked.component == "sciences" and re.fullmatch(r"\d{4}-\d{2}", asked.month)
    assert fakes.contacts.asked("ListComponents") == []  # no list of the others' names


def test_a_dashboard_refusal_is_the_403_page(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    fakes.pressure.refusal = "the grouping's dashboard is for the communication team"
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    page = get(browser, "/console/pressure/dashboard/?component=")
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert "communication team" in html and "Traceback" not in html


def test_a_bad_month_is_a_field_error_not_a_call_for_it(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "communication", email="com@u.example"))
    page = get(browser, "/console/pressure/dashboard/?month=2026-13")
    assert page.status_code == 400
    assert 'id="e-month"' in page.get_data(as_text=True)
    assert all(r.month != "2026-13" for r in fakes.pressure.requests)


def test_the_dashboard_csv_holds_no_hidden_value(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "communication", email="com@u.example"))
    download = get(browser, "/console/pressure/dashboard/dashboard.csv?month=2026-10&component=")
    assert download.status_code == 200
    text = download.get_data(as_text=True)
    assert SECRET not in text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    hidden = [r for r in rows if r["published"] == "false"]
    assert hidden and all(r["value"] == "" and r["reason"] for r in hidden)


def test_navigation_offers_the_new_pages_to_those_who_can_use_them(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    for claims, expected in (
        (person(None, "communication", email="c@u.example"), True),
        (person("sciences", "campaign_manager"), True),
        (person("sciences", "viewer", email="v@u.example"), False),
    ):
        sign_in(browser, provider, claims)
        html = get(browser, "/console/").get_data(as_text=True)
        assert ('href="/console/indicators/"' in html) is expected, claims
        assert ('href="/console/pressure/dashboard/"' in html) is expected, claims


def test_admin_dimensions_create_edit_delete_with_csrf(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "admin", email="admin@u.example"))
    page = get(browser, "/console/admin/indicators/dimensions")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-dimension="sector"' in html
    form = {"id": "region", "label_fr": "Région", "label_en": "Region", "source": "field",
            "field": "region", "csrf_token": csrf_of(html)}  # fmt: skip
    saved = post(browser, "/console/admin/indicators/dimensions", form)
    assert saved.status_code == 303
    (put,) = fakes.contacts.asked("PutDimension")
    assert put == pb.Dimension(id="region", label_fr="Région", label_en="Region",
                               source=pb.DIMENSION_SOURCE_FIELD, field="region")  # fmt: skip
    refused = post(browser, "/console/admin/indicators/dimensions", form | {"id": ""})
    assert refused.status_code == 400 and 'id="e-id"' in refused.get_data(as_text=True)
    edit = get(browser, "/console/admin/indicators/dimensions?edit=sector").get_data(as_text=True)
    assert 'value="Secteur"' in edit
    no_token = post(browser, "/console/admin/indicators/dimensions/sector/delete", {})
    assert no_token.status_code == 400 and fakes.contacts.asked("DeleteDimension") == []
    deleted = post(
        browser, "/console/admin/indicators/dimensions/sector/delete", {"csrf_token": csrf_of(edit)}
    )
    assert deleted.status_code == 303
    assert [d.id for d in fakes.contacts.asked("DeleteDimension")] == ["sector"]


def test_admin_rules_keep_min_components_and_check_numbers(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "admin", email="admin@u.example"))
    html = get(browser, "/console/admin/indicators/rules").get_data(as_text=True)
    assert 'name="k" type="number" value="5"' in html
    token = csrf_of(html)
    bad = post(
        browser, "/console/admin/indicators/rules", {"k": "five", "p": "80", "csrf_token": token}
    )
    assert bad.status_code == 400 and fakes.contacts.asked("SetDisclosureRules") == []
    refused = post(
        browser, "/console/admin/indicators/rules", {"k": "5", "p": "120", "csrf_token": token}
    )
    assert refused.status_code == 400 and 'id="e-p"' in refused.get_data(as_text=True)
    ok = post(
        browser, "/console/admin/indicators/rules", {"k": "7", "p": "75", "csrf_token": token}
    )
    assert ok.status_code == 303
    last = fakes.contacts.asked("SetDisclosureRules")[-1]
    assert (last.k, last.p, last.min_components) == (7, 75, 2)


def test_the_field_policy_form_sets_aggregate_grants(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "admin", email="admin@u.example"))
    html = get(browser, "/console/admin/field-policies/edit?field=x").get_data(as_text=True)
    assert 'name="aggregate"' in html
    form = {"field": "apprenticeship_tax_amount", "read": "components=sciences",
            "write": "owner", "aggregate": "grouping\ncomponents=lettres level=2",
            "csrf_token": csrf_of(html)}  # fmt: skip
    saved = post(browser, "/console/admin/field-policies/edit", form)
    assert saved.status_code == 303
    (asked,) = fakes.contacts.asked("SetFieldPolicy")
    assert [g.audience for g in asked.policy.aggregate] == [
        pb.AUDIENCE_GROUPING,
        pb.AUDIENCE_COMPONENTS,
    ]
    assert asked.policy.aggregate[1].min_level == "2"
    assert list(asked.policy.read[0].components) == ["sciences"]
    bad = post(browser, "/console/admin/field-policies/edit", form | {"aggregate": "everyone"})
    assert bad.status_code == 400 and 'id="e-aggregate"' in bad.get_data(as_text=True)


def test_form_errors_maps_violations_to_inputs() -> None:
    error = InvalidArgument(
        "bad",
        [
            FieldViolation("filters[2].min", "too small"),
            FieldViolation("filters[0].field", "unknown"),
            FieldViolation("scope", "required"),
            FieldViolation("", "whole"),
        ],
    )
    assert forms.form_errors(error, "body", forms.top_level) == {
        "filters": "too small",
        "scope": "required",
        "body": "whole",
    }
    assert forms.form_errors(error, "x", {"scope"}) == {"x": "too small", "scope": "required"}
    assert forms.form_errors(error, "x", {"scope": "s"}, say_field=True) == {
        "x": "filters[2].min: too small",
        "s": "scope: required",
    }
    assert forms.form_errors(error, "x") == {
        "filters[2].min": "too small",
        "filters[0].field": "unknown",
        "scope": "required",
        "x": "whole",
    }
    assert forms.form_errors(InvalidArgument("no violation"), "x") == {"x": "no violation"}
