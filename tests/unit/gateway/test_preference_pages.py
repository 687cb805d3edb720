"""The preference page: plain forms, both languages, ticks what is subscribed, no script."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask import Flask

from services.gateway.preference_form import GROUPING, Choice
from services.gateway.preference_pages import (
    LANGUAGES,
    Language,
    PreferencesView,
    PurposeInfo,
    error_page,
    preferences_page,
    words,
)

NEWS = PurposeInfo("newsletter", {"fr": "Lettre d'information", "en": "Newsletter"}, "Texte v2")
EVENTS = PurposeInfo("events", {"fr": "Événements", "en": "Events"}, None)
OFFERED = (
    Choice(GROUPING, "newsletter", "email"),
    Choice(GROUPING, "events", "email"),
    Choice("sciences", "newsletter", "email"),
)
VIEW = PreferencesView(
    purposes=(NEWS, EVENTS),
    scope_names={"sciences": "Faculté des sciences"},
    offered=OFFERED,
    subscribed=frozenset({OFFERED[0], OFFERED[2]}),
    objected=False,
)


class Inputs(HTMLParser):
    """The form controls of a page, and whether it carries any script."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: dict[str, bool] = {}
        self.forms: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" or any(k.startswith("on") for k in named):
            self.scripts += 1
        if tag == "form":
            assert named.get("method") == "post"
            self.forms.append(named.get("action") or "")
        if tag == "input" and named.get("type") == "checkbox":
            self.boxes[named["value"] or ""] = "checked" in named


def render(view: PreferencesView, lang: Language) -> tuple[str, Inputs]:
    with Flask(__name__).app_context():
        response = preferences_page(view, lang, "/preferences/t/objection")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    parsed = Inputs()
    parsed.feed(html)
    return html, parsed


@pytest.mark.parametrize("lang", LANGUAGES)
def test_one_box_per_offered_choice_ticked_when_subscribed(lang: Language) -> None:
    html, parsed = render(VIEW, lang)
    assert parsed.boxes == {c.key: c in VIEW.subscribed for c in OFFERED}
    assert parsed.scripts == 0
    assert parsed.forms == [f"?lang={lang}", f"/preferences/t/objection?lang={lang}"]
    assert words(lang)["object"] in html.replace("&#39;", "'")
    assert NEWS.labels[lang].replace("'", "&#39;") in html
    assert "Faculté des sciences" in html


def test_labels_and_notices_are_escaped() -> None:
    hostile = PurposeInfo("x", {"fr": "<script>alert(1)</script>"}, "<img src=x onerror=1>")
    view = PreferencesView((hostile,), {}, (Choice(GROUPING, "x", "email"),), frozenset(), True)
    html, parsed = render(view, "fr")
    assert parsed.scripts == 0 and "<img" not in html
    assert words("fr")["objected"].replace("'", "&#39;") in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_choice_without_a_notice_is_shown_without_a_box_and_says_why(lang: Language) -> None:
    closed = Choice(GROUPING, "events", "post")
    view = PreferencesView((NEWS, EVENTS), {}, OFFERED[:1], frozenset(), False, frozenset({closed}))
    html, parsed = render(view, lang)
    assert closed.key not in parsed.boxes
    assert EVENTS.labels[lang] in html.replace("&#39;", "'")
    assert words(lang)["no_notice"].replace("'", "&#39;") in html


@pytest.mark.parametrize(
    ("key", "status"), [("not_found", 404), ("expired", 410), ("unavailable", 503)]
)
def test_error_pages_keep_their_status_and_are_not_cached(key: str, status: int) -> None:
    with Flask(__name__).app_context():
        response = error_page("en", key, status)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert words("en")[key] in response.get_data(as_text=True).replace("&#39;", "'")
