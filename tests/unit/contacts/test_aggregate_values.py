"""What an answer says: values rounded half-even, the query's name, the CSV a spreadsheet
cannot run."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.csv_export import cell as safe_cell
from meshkit.disclosure import Statistic
from services.contacts.aggregate_sql import key_of
from services.contacts.aggregates import AggregateQuery, Scope, describe, format_value
from services.gateway.indicators import ALL, csv_text
from services.gateway.indicators_schemas import (
    Coordinate,
    DisclosureRules,
    IndicatorCell,
    Indicators,
    IndicatorsQuery,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1, 3), "0.3333"),
        (Fraction(2, 3), "0.6667"),
        (Fraction(5, 100000), "0"),  # 0.00005: half to even, down
        (Fraction(15, 100000), "0.0002"),  # 0.00015: half to even, up
        (Fraction(25, 100000), "0.0002"),
        (Fraction(-1, 3), "-0.3333"),
        (Fraction(-5, 100000), "0"),
        (Fraction(1200), "1200"),
        (Fraction(12, 10), "1.2"),
    ],
)
def test_values_are_rounded_half_even_to_four_places_and_trimmed(value, text) -> None:  # type: ignore[no-untyped-def]
    assert format_value(value, Statistic.SUM) == text


def test_counts_are_integers() -> None:
    assert format_value(Fraction(42), Statistic.COUNT) == "42"


@given(st.fractions(max_denominator=10**6).filter(lambda f: abs(f) < 10**9))
def test_formatting_is_the_nearest_four_place_decimal(value: Fraction) -> None:
    text = format_value(value, Statistic.MEAN)
    assert abs(Fraction(text) - value) <= Fraction(1, 20000)
    assert not ("." in text and text.endswith("0"))


def test_the_query_is_named_without_figures() -> None:
    query = AggregateQuery("*.taxe", Statistic.PERCENTILE, 90.0, ("sector", "year"), Scope.REACH)
    assert describe(query) == "percentile 90 of *.taxe by sector, year over the reach"


def test_grouping_flags_give_the_margins() -> None:
    assert key_of(0b00, ["a", "b"]) == ("a", "b")
    assert key_of(0b10, [None, "b"]) == (None, "b")
    assert key_of(0b01, ["a", None]) == ("a", None)
    assert key_of(0b11, [None, None]) == (None, None)


def _table(values: list[str]) -> Indicators:
    return Indicators(
        cells=[
            IndicatorCell(
                coordinates=[Coordinate(dimension="sector", value=v, total=False)],
                published=True,
                value="-12.5",
            )
            for v in values
        ]
        + [
            IndicatorCell(
                coordinates=[Coordinate(dimension="sector", value="", total=True)],
                published=False,
                reason="complementary",
            )
        ],
        rules=DisclosureRules(k=5, p=80, min_components=2),
        query="sum of x by sector over the grouping",
    )


def test_csv_defuses_formulas_and_quotes_by_rfc_4180() -> None:
    # a plain number runs nothing (a spreadsheet reads it as a number); "-2+3" is a formula
    values = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", 'a "b", c', "plain"]
    text = csv_text(_table(values), ["sector"])
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["sector", "statistic", "published", "reason", "as_of"]
    assert [r[0] for r in rows[1:-1]] == [
        '\'=HYPERLINK("http://x")',
        "+1",
        "'-2+3",
        "'@SUM(A1)",
        'a "b", c',
        "plain",
    ]
    assert rows[1][1:] == ["-12.5", "true", "", ""]  # a figure is a number, never prefixed
    assert rows[-1] == [ALL, "", "false", "complementary", ""]
    assert '"a ""b"", c"' in text


def test_safe_cell_leaves_ordinary_text() -> None:
    assert safe_cell("industrie") == "industrie"
    assert safe_cell("\tx") == "'\tx"


def test_the_query_string_takes_repeated_dimensions() -> None:
    query = IndicatorsQuery.model_validate({"statistic": "sum", "dimension": ["a", "b"]})
    assert query.dimension == ["a", "b"]
    assert IndicatorsQuery.model_validate({"dimension": "a"}).dimension == ["a"]
    with pytest.raises(ValueError):
        IndicatorsQuery.model_validate({"dimension": ["a", "b", "c", "d"]})
    with pytest.raises(ValueError):
        IndicatorsQuery.model_validate({"percentile": "101"})
