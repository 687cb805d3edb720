"""Pictures made on the server as inline SVG: no script, no external library, no CDN.

Every chart is an `<svg role="img">` with a title and a description, and
writes each value as visible text beside its bar (so the figures can be read
by people, screen readers and tests alike: `.chart-label` elements carry
`data-key` and `data-value`). Colours come from the console's stylesheet
through classes, so the Content-Security-Policy needs no inline style.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_ids = itertools.count(1)
MAX_BOXES = 30  # slots drawn per pressure rule at most


@dataclass(frozen=True)
class Bar:
    """One bar: its key (an outcome code, a day...), the label shown and its value."""

    key: str
    label: str
    value: float
    tone: str = "default"  # a CSS class suffix: default, good, warn, bad, muted


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _svg_open(kind: str, width: float, height: float, title: str, description: str) -> list[str]:
    """The opening of a chart: its classes, view box, and the title and description a screen
    reader announces (aria-labelledby); each chart appends its marks and closes it."""
    chart_id = f"chart-{next(_ids)}"
    return [
        f'<svg class="chart {kind}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description or title)}</desc>',
    ]


def bar_chart(title: str, bars: Sequence[Bar], description: str = "", empty: str = "—") -> Markup:
    """Horizontal bars, one row per bar, with `label: value` written at its end."""
    row, label_width, bar_width = 28, 220, 360
    height = max(1, len(bars)) * row + 10
    top = max((bar.value for bar in bars), default=0) or 1
    parts = _svg_open("chart-bars", label_width + bar_width + 220, height, title, description)
    if not bars:
        parts.append(f'<text class="chart-empty" x="4" y="20">{escape(empty)}</text>')
    for index, bar in enumerate(bars):
        y = 5 + index * row
        width = 0 if bar.value <= 0 else max(2.0, bar_width * bar.value / top)
        value = _number(bar.value)
        parts.append(
            f'<text class="chart-axis" x="{label_width - 8}" y="{y + 17}" text-anchor="end">'
            f"{escape(bar.label)}</text>"
            f'<rect class="bar bar-{escape(bar.tone)}" x="{label_width}" y="{y + 3}" '
            f'width="{width:.1f}" height="{row - 8}"></rect>'
            f'<text class="chart-label" data-key="{escape(bar.key)}" data-value="{value}" '
            f'x="{label_width + width + 6:.1f}" y="{y + 17}">{escape(bar.label)}: {value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar_chart(
    title: str, bars: Sequence[Bar], description: str = "", empty: str = "—"
) -> Markup:
    """Horizontal bars for a narrow screen: each label on its own line above its bar, the
    value at the bar's end; 400 units wide, so 13-unit text stays legible at 320 px."""
    row, bar_width, width = 48, 280, 400
    height = max(1, len(bars)) * row + 10
    top = max((bar.value for bar in bars), default=0) or 1
    parts = _svg_open("chart-bars chart-stacked", width, height, title, description)
    if not bars:
        parts.append(f'<text class="chart-empty" x="4" y="20">{escape(empty)}</text>')
    for index, bar in enumerate(bars):
        y = 5 + index * row
        size = 0 if bar.value <= 0 else max(2.0, bar_width * bar.value / top)
        value = _number(bar.value)
        parts.append(
            f'<text class="chart-axis" x="2" y="{y + 14}">{escape(bar.label)}</text>'
            f'<rect class="bar bar-{escape(bar.tone)}" x="2" y="{y + 20}" '
            f'width="{size:.1f}" height="18"></rect>'
            f'<text class="chart-label" data-key="{escape(bar.key)}" data-value="{value}" '
            f'x="{size + 8:.1f}" y="{y + 34}">{value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    title: str, bars: Sequence[Bar], description: str = "", empty: str = "—"
) -> Markup:
    """Vertical columns over time (sends per hour or day), the value above each column."""
    column, gap, height, base, left = 28, 6, 160, 130, 40
    # At least 12 slots wide, so one column does not fill the page; room for the first label.
    width = max(12, len(bars)) * (column + gap) + 20 + left
    top = max((bar.value for bar in bars), default=0) or 1
    parts = _svg_open("chart-columns", width, height + 40, title, description)
    parts.append(
        f'<line class="chart-baseline" x1="10" y1="{base}" x2="{width - 10}" y2="{base}"></line>'
    )
    if not bars:
        parts.append(f'<text class="chart-empty" x="12" y="{base - 10}">{escape(empty)}</text>')
    for index, bar in enumerate(bars):
        x = left + 14 + index * (column + gap)
        h = 0 if bar.value <= 0 else max(2.0, (base - 20) * bar.value / top)
        value = _number(bar.value)
        parts.append(
            f'<rect class="bar bar-{escape(bar.tone)}" x="{x}" y="{base - h:.1f}" '
            f'width="{column}" height="{h:.1f}"></rect>'
            f'<text class="chart-label" data-key="{escape(bar.key)}" data-value="{value}" '
            f'x="{x + column / 2}" y="{base - h - 4:.1f}" text-anchor="middle">{value}</text>'
            f'<text class="chart-axis" x="{x + column / 2}" y="{base + 14}" text-anchor="end" '
            f'transform="rotate(-45 {x + column / 2} {base + 14})">{escape(bar.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Slots:
    """One pressure rule: slots used and free in its window, and when the next one frees."""

    key: str
    label: str
    used: int
    limit: int
    note: str = ""  # e.g. "next allowed: 2026-12-03"


def slots_chart(
    title: str, rules: Sequence[Slots], description: str = "", empty: str = "—"
) -> Markup:
    """One row per rule: a box per slot, filled when used, with `used/limit` and a note."""
    row, box, label_width = 34, 18, 200
    # A rule may allow hundreds of messages: past MAX_BOXES the boxes stop, the text stays exact.
    widest = min(MAX_BOXES, max((rule.limit for rule in rules), default=1))
    width = label_width + widest * (box + 4) + 260
    height = max(1, len(rules)) * row + 10
    parts = _svg_open("chart-slots", width, height, title, description)
    if not rules:
        parts.append(f'<text class="chart-empty" x="4" y="20">{escape(empty)}</text>')
    for index, rule in enumerate(rules):
        y = 5 + index * row
        parts.append(
            f'<text class="chart-axis" x="{label_width - 8}" y="{y + 18}" text-anchor="end">'
            f"{escape(rule.label)}</text>"
        )
        drawn = min(rule.limit, MAX_BOXES)
        used_boxes = rule.used if rule.limit <= MAX_BOXES else round(drawn * rule.used / rule.limit)
        for slot in range(drawn):
            tone = "used" if slot < used_boxes else "free"
            x = label_width + slot * (box + 4)
            parts.append(
                f'<rect class="slot slot-{tone}" x="{x}" y="{y + 4}" '
                f'width="{box}" height="{box}" rx="3"></rect>'
            )
        x = label_width + drawn * (box + 4) + 8
        note = f" · {rule.note}" if rule.note else ""
        parts.append(
            f'<text class="chart-label" data-key="{escape(rule.key)}" data-value="{rule.used}" '
            f'x="{x}" y="{y + 18}">{rule.used}/{rule.limit}{escape(note)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
