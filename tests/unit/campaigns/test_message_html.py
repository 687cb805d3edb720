"""The HTML part: made from the text, or from an HTML template; merge values never become markup."""

from __future__ import annotations

import re
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


def visible(value: str) -> str:
    """A value as HTML may show it: without the control characters HTML does not allow."""
    return re.sub(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]", "", value)


@given(st.text(), st.text())
def test_merge_values_in_an_html_template_are_text_whatever_they_hold(
    first_name: str, last_name: str
) -> None:
    html = render_html(TEMPLATE, {"first_name": first_name, "last_name": last_name})
    reading = read(html)
    assert [tag for tag, _ in reading.tags] == ["p", "a"]  # the template's, no more
    (p_attrs, a_attrs) = (attrs for _, attrs in reading.tags)
    assert p_attrs == [("title", visible(last_name))]
    assert a_attrs == [("href", f"https://univ.example/{visible(last_name)}")]
    assert "".join(reading.text) == f"Bonjour {visible(first_name)}lien"


LINKS = parse_template(
    '<a href="{{ medecine.website }}">site</a><a href={{ medecine.website }}>nu</a>'
    "<img src='{{ first_name }}{{ medecine.website }}' alt=''><p>{{ medecine.website }}</p>"
)
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
IGNORED = re.compile(r"[\x00-\x20\x7f]")
schemes = st.sampled_from(["javascript", "JaVaScRiPt", "vbscript", "data", "https", "mailto"])
# Values built to open an address: a scheme with browser-ignored characters spread in it.
addresses = st.builds(
    lambda noise, scheme, rest: noise[0] + noise[1].join(scheme) + ":" + rest,
    st.tuples(st.sampled_from(["", " ", "\t", "\n", "\x00"]), st.sampled_from(["", "\t", "\n"])),
    schemes,
    st.text(),
)


# A first name and an address that make a scheme only together ("java" + "script:...").
halves = st.sampled_from(["", "java", "JAVA\t", "A", " ", "\x01", "\x80A"])


@given(
    st.one_of(st.text(), addresses, st.sampled_from(["script:x", ":", "www.u.example"])),
    st.one_of(st.text(), halves),
)
def test_a_merge_value_never_opens_a_link_on_an_unsafe_scheme(website: str, first: str) -> None:
    """Whatever the values, every address the mail holds is http(s), mailto, tel or relative;
    unquoted attributes gain no attribute; the text shows the value whole."""
    reading = read(render_html(LINKS, {"medecine.website": website, "first_name": first}))
    assert [tag for tag, _ in reading.tags] == ["a", "a", "img", "p"]
    addresses_seen = []
    for tag, attrs in reading.tags:
        names = [name for name, _ in attrs]
        assert names == {"a": ["href"], "img": ["src", "alt"], "p": []}[tag]
        addresses_seen += [value or "" for name, value in attrs if name in ("href", "src")]
    for address in addresses_seen:
        scheme = SCHEME.match(IGNORED.sub("", address))
        assert scheme is None or scheme.group(1).lower() in {"http", "https", "mailto", "tel"}
    assert "".join(reading.text) == f"sitenu{visible(website)}"


def test_a_safe_address_is_kept_and_a_script_one_is_dropped_where_it_opens_a_link() -> None:
    html = render_html(LINKS, {"medecine.website": "https://u.example/a b", "first_name": ""})
    assert '<a href="https://u.example/a b">' in html  # quoted: the space stays a space
    assert "<a href=https://u.example/a&#32;b>" in html  # unquoted: it cannot end the value
    html = render_html(LINKS, {"medecine.website": "java\tscript:alert(1)", "first_name": ""})
    assert 'href=""' in html and "<p>java\tscript:alert(1)</p>" in html
    html = render_html(LINKS, {"medecine.website": "script:alert(1)", "first_name": "java"})
    assert "src='https://javascript:alert(1)'" in html  # a host named "javascript", no scheme
    html = render_html(LINKS, {"medecine.website": "www.u.example", "first_name": ""})
    assert 'href="https://www.u.example"' in html
