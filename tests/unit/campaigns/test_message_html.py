"""The HTML part: made from the text, or from an HTML template; merge values never become markup."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.message import text_to_html
from services.campaigns.policy import parse_template, render_html


class Reading(HTMLParser):
    """What a browser would see: the tags (with attributes) and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read(html: str) -> Reading:
    reading = Reading()
    reading.feed(html)
    reading.close()
    return reading


@given(st.text())
def test_text_made_html_shows_the_same_words_and_no_other_markup(text: str) -> None:
    reading = read(text_to_html(text))
    assert {tag for tag, _ in reading.tags} <= {"p", "br"}
    assert all(attrs == [] for _, attrs in reading.tags)
    assert "".join("".join(reading.text).split()) == "".join(text.split())


def test_blank_lines_part_paragraphs_and_line_breaks_stay() -> None:
    assert (
        text_to_html("Un\ndeux\n\n\nTrois <b>\n") == "<p>Un<br>\ndeux</p>\n<p>Trois &lt;b&gt;</p>"
    )


TEMPLATE = parse_template(
    '<p title="{{ last_name }}">Bonjour {{ first_name }}</p>'
    "<a href='https://univ.example/{{ last_name }}'>lien</a>"
)


@given(st.text(), st.text())
def test_merge_values_in_an_html_template_are_text_whatever_they_hold(
    first_name: str, last_name: str
) -> None:
    html = render_html(TEMPLATE, {"first_name": first_name, "last_name": last_name})
    reading = read(html)
    assert [tag for tag, _ in reading.tags] == ["p", "a"]  # the template's, no more
    (p_attrs, a_attrs) = (attrs for _, attrs in reading.tags)
    assert p_attrs == [("title", last_name)]
    assert a_attrs == [("href", f"https://univ.example/{last_name}")]
    assert "".join(reading.text) == f"Bonjour {first_name}lien"
