"""The server-made SVG charts: well-formed for any labels, values written where tests and
screen readers read them, nothing a label holds ever becomes markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from services.gateway.console.charts import (
    Bar,
    Slots,
    bar_chart,
    column_chart,
    slots_chart,
    stacked_bar_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
label_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
bars = st.lists(
    st.builds(Bar, key=label_text, label=label_text, value=st.integers(0, 10**9)), max_size=12
)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


@given(bars, label_text)
def test_bar_and_column_charts_are_well_formed_and_carry_every_value(
    items: list[Bar], title: str
) -> None:
    for chart in (bar_chart, column_chart, stacked_bar_chart):
        root = parse(str(chart(title, items)))
        assert root.get("role") == "img"
        assert root.find(f"{SVG}title").text == (title or None)
        labels = root.findall(f".//{SVG}text[@class='chart-label']")
        assert [(label.get("data-key"), int(label.get("data-value"))) for label in labels] == [
            (bar.key, bar.value) for bar in items
        ]
        assert not root.findall(f".//{SVG}script")


def test_a_label_never_becomes_markup() -> None:
    svg = str(bar_chart("t", [Bar("<script>x</script>", '"><img src=x>', 3)]))
    assert "<script>" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 20)), max_size=6))
def test_slots_show_used_and_free_boxes(rules: list[tuple[int, int]]) -> None:
    items = [
        Slots(f"r{i}", f"rule {i}", min(used, limit), limit)
        for i, (used, limit) in enumerate(rules)
    ]
    root = parse(str(slots_chart("pressure", items)))
    assert len(root.findall(f".//{SVG}rect[@class='slot slot-used']")) == sum(s.used for s in items)
    free = sum(s.limit - s.used for s in items)
    assert len(root.findall(f".//{SVG}rect[@class='slot slot-free']")) == free


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 1000)), min_size=1, max_size=4))
def test_a_large_rule_draws_at_most_thirty_boxes_and_states_its_exact_figures(
    rules: list[tuple[int, int]],
) -> None:
    items = [Slots(f"r{i}", f"rule {i}", min(u, n), n) for i, (u, n) in enumerate(rules)]
    root = parse(str(slots_chart("pressure", items)))
    boxes = root.findall(f".//{SVG}rect")
    assert len(boxes) == sum(min(s.limit, 30) for s in items)
    labels = root.findall(f".//{SVG}text[@class='chart-label']")
    assert [label.text for label in labels] == [f"{s.used}/{s.limit}" for s in items]
