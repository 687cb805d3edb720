"""The indicators page against a fake contacts service that records every request.

What it asks (no Aggregate on a bare GET: contacts audits each one; the form's fields as
the request), what it shows (suppressed cells in words and never their value, margins as
"Total", a chart of the published interior cells only, the rules), the refusal as a 403
box, and the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import hypothesis
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from meshkit.errors import InvalidArgument
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway.console import indicators, tables
from tests.support.console import person
from tests.support.oidc import TestProvider
from tests.unit.gateway.console.conftest import get
from tests.unit.gateway.console.fakes import (  # noqa: F401 (fixtures)
    SECRET,
    Fakes,
    fakes_fixture,
    settings_fixture,
)
from tests.unit.gateway.console.test_sign_in import sign_in

SUM_BY_SECTOR = (
    "/console/indicators/?statistic=sum&measure=apprenticeship_tax_amount&scope=grouping&d1=sector"
)


def chart_keys(html: str) -> list[str]:
    return re.findall(r'class="chart-label" data-key="([^"]*)"', html)


def test_a_bare_visit_shows_the_form_and_asks_no_aggregate(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person(None, "communication", email="com@u.example"))
    page = get(browser, "/console/indicators/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert fakes.contacts.asked("Aggregate") == []
    assert 'id="indicator-form"' in html and 'method="get"' in html
    assert 'id="cells"' not in html
    # The measures are the catalogue's number fields only; no component: the grouping only.
    assert 'value="apprenticeship_tax_amount"' in html and 'value="first_name"' not in html
    assert 'value="reach"' not in html and 'value="grouping"' in html


def test_the_form_is_the_request_and_the_answer_shows_only_what_is_published(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    page = get(browser, SUM_BY_SECTOR + "&d2=component")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    (asked,) = fakes.contacts.asked("Aggregate")
    assert asked.statistic == pb.STATISTIC_SUM
    assert asked.measure == "apprenticeship_tax_amount"
    assert list(asked.dimensions) == ["sector", "component"]
    assert asked.scope == pb.AGGREGATE_SCOPE_GROUPING
    # Suppressed cells: their reason in words, never a value (the fake left one in each).
    assert SECRET not in html
    assert "masqué : moins de 5 contacts" in html
    assert "masqué : protège une autre case masquée" in html
    assert html.count('data-published="false"') == 2
    assert ">Total<" in html
    assert 'id="rules" data-k="5" data-p="80"' in html
    # The chart: the published interior cells, not the margin, not the suppressed ones.
    assert chart_keys(html) == ["industrie", "services"]
    assert 'data-key="industrie" data-value="1200.5"' in html


def test_the_english_page_says_the_reasons_in_english(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    html = get(browser, SUM_BY_SECTOR + "&lang=en").get_data(as_text=True)
    assert "hidden: fewer than 5 contacts" in html and SECRET not in html


def test_an_invalid_form_asks_nothing_and_says_which_field(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    page = get(browser, "/console/indicators/?statistic=percentile&percentile=250&scope=grouping")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert fakes.contacts.asked("Aggregate") == []
    assert 'id="e-percentile"' in html and 'id="e-measure"' in html
    assert 'id="cells"' not in html


def test_a_refusal_is_contacts_message_in_a_403_box_without_a_stack_trace(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    fakes.contacts.refusal = "no aggregate right on apprenticeship_tax_amount"
    sign_in(browser, provider, person("lettres", "campaign_manager"))
    page = get(browser, SUM_BY_SECTOR)
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert 'id="refusal" data-status="403"' in html
    assert "no aggregate right on apprenticeship_tax_amount" in html
    assert "Traceback" not in html and 'id="cells"' not in html
    assert 'id="indicator-form"' in html  # the form stays, to ask something else


def test_the_csv_is_the_same_answer_without_hidden_values_or_formulas(
    browser: Any, provider: TestProvider, fakes: Fakes
) -> None:
    fakes.reset()
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    html = get(browser, SUM_BY_SECTOR).get_data(as_text=True)
    link = re.search(r'id="csv" href="([^"]+)"', html)
    assert link is not None
    download = get(browser, link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    assert SECRET not in text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["sector"] for r in rows] == ["industrie", "services", "'=HYPERLINK(1)", "santé", ""]
    assert [r["value"] for r in rows] == ["1200.5", "830", "", "", "4000"]
    assert [r["reason"] for r in rows] == ["", "", "too_few_contacts", "complementary", ""]
    assert rows[-1]["sector_total"] == "true"
    # The same query as the page's.
    first, second = fakes.contacts.asked("Aggregate")
    assert first == second


def _form(**values: str) -> indicators.IndicatorForm:
    return indicators.IndicatorForm.read(MultiDict(values))


def test_reading_the_form_checks_it_before_asking(console: Flask) -> None:
    with console.test_request_context("/console/indicators/"):
        query = _form(statistic="count", scope="reach", d1="", d2="sector", d3="kind").query()
        assert query.statistic == pb.STATISTIC_COUNT and query.measure == ""
        assert list(query.dimensions) == ["sector", "kind"]  # empty selects skipped
        for bad, field in (
            ({"statistic": "mode", "scope": "reach"}, "statistic"),
            ({"statistic": "mean", "scope": "reach"}, "measure"),
            ({"statistic": "count", "scope": "everyone"}, "scope"),
            ({"statistic": "count", "scope": "reach", "d1": "x", "d2": "x"}, "d2"),
            ({"statistic": "percentile", "measure": "m", "scope": "reach", "percentile": "nan"},
             "percentile"),
        ):  # fmt: skip
            try:
                _form(**bad).query()
            except InvalidArgument as error:
                assert field in {v.field for v in error.violations}, (bad, error.violations)
            else:
                raise AssertionError(f"{bad} was accepted")
        assert not _form().submitted and _form(statistic="").submitted


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    statistic=st.sampled_from(sorted(indicators.STATISTICS)),
    measure=st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True),
    percentile=st.floats(min_value=0, max_value=100, allow_nan=False),
    dimensions=st.lists(st.sampled_from(["sector", "kind", "year", "component", ""]), max_size=3),
    scope=st.sampled_from(sorted(indicators.SCOPES)),
)
def test_a_valid_form_becomes_exactly_its_request(
    console: Flask,
    statistic: str,
    measure: str,
    percentile: float,
    dimensions: list[str],
    scope: str,
) -> None:
    chosen = [d for d in dimensions if d]
    values = {"statistic": statistic, "measure": measure, "percentile": repr(percentile),
              "scope": scope}  # fmt: skip
    values.update({f"d{i}": d for i, d in enumerate(dimensions, start=1)})
    with console.test_request_context("/console/indicators/"):
        form = _form(**values)
        if len(set(chosen)) < len(chosen):
            try:
                form.query()
            except InvalidArgument:
                return
            raise AssertionError("a dimension chosen twice was accepted")
        query = form.query()
        again = _form(**form.args()).query()  # the CSV link asks the same
    assert query == again
    assert query.statistic == indicators.STATISTICS[statistic]
    assert query.scope == indicators.SCOPES[scope]
    assert list(query.dimensions) == chosen
    assert query.measure == measure
    if statistic == "percentile":
        assert query.percentile == percentile


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=1, max_size=3),
            st.integers(min_value=0, max_value=4),
            st.decimals(min_value=-1000, max_value=10**6, places=2, allow_nan=False),
        ),
        max_size=12,
    )
)
def test_cells_never_carry_a_suppressed_value_and_the_chart_draws_only_published_interiors(
    console: Flask, raw: list[tuple[list[str | None], int, Any]]
) -> None:
    reply = pb.AggregateResponse(rules=pb.DisclosureRules(k=7, p=70, min_components=2))
    width = max((len(c) for c, _, _ in raw), default=1)
    for coordinates, reason, value in raw:
        coordinates = (coordinates + [None] * width)[:width]
        made = reply.cells.add(published=reason == 0, value=str(value), reason=reason)
        for coordinate in coordinates:
            made.coordinates.add(value=coordinate or "", total=coordinate is None)
    with console.test_request_context("/console/indicators/"):
        found = indicators.cells(reply)
        drawn = str(indicators.chart(found, width))
    assert len(found) == len(reply.cells)
    for shown, source in zip(found, reply.cells, strict=True):
        assert shown.published == source.published
        if not source.published:
            assert shown.value == "" and shown.reason_text.startswith("masqué")
            if source.reason == pb.SUPPRESSION_REASON_TOO_FEW_CONTACTS:
                assert "7" in shown.reason_text
        else:
            assert shown.value == source.value and shown.reason_text == ""
    expected = [c for c in found if c.published and c.interior]
    assert len(re.findall(r'class="chart-label"', drawn)) == len(expected)


def test_csv_cells_defuse_formulas_but_keep_numbers() -> None:
    assert tables.cell("=1+1") == "'=1+1"
    assert tables.cell("@SUM(A1)") == "'@SUM(A1)"
    assert tables.cell("-12.5") == "-12.5"
    assert tables.cell("+3") == "+3"
    assert tables.cell("-x") == "'-x"
    assert tables.cell(None) == "" and tables.cell(0) == "0"
