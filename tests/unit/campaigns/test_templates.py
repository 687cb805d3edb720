"""Merge-field templates: known fields only, and nothing rendered that was not given."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.policy import (
    CONTACT_FIELDS,
    TemplateError,
    is_known_field,
    parse_template,
    render,
)

attribute_keys = st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
known_fields = st.one_of(
    st.sampled_from(sorted(CONTACT_FIELDS)), attribute_keys.map(lambda k: f"attr.{k}")
)
# Literal text around fields: anything but braces, so literals never form a field.
literals = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20)
values = st.text(max_size=30)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    fields = draw(st.lists(known_fields, max_size=6))
    texts = draw(st.lists(literals, min_size=len(fields) + 1, max_size=len(fields) + 1))
    spacing = draw(st.sampled_from(["", " ", "  "]))
    source = texts[0] + "".join(
        f"{{{{{spacing}{name}{spacing}}}}}{text}"
        for name, text in zip(fields, texts[1:], strict=True)
    )
    return source, fields, texts


@given(templates(), st.data())
def test_render_is_the_literals_and_the_given_values_only(
    case: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    source, fields, texts = case
    given_fields = data.draw(
        st.dictionaries(st.sampled_from(fields), values) if fields else st.just({})
    )
    rendered = render(parse_template(source), given_fields)
    expected = texts[0] + "".join(
        given_fields.get(name, "") + text for name, text in zip(fields, texts[1:], strict=True)
    )
    assert rendered == expected


@given(templates(), st.data())
def test_a_hidden_field_never_shows_even_when_the_template_names_it(
    case: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    source, fields, _ = case
    # The whole record as contacts stores it; the component may see only part of it.
    record = {name: f"SECRET-{index}-VALUE" for index, name in enumerate(dict.fromkeys(fields))}
    visible = data.draw(st.sets(st.sampled_from(sorted(record))) if record else st.just(set()))
    merge_fields = {name: record[name] for name in visible}
    rendered = render(parse_template(source), merge_fields)
    for name, value in record.items():
        if name not in visible:
            assert value not in rendered


@given(
    st.lists(known_fields, min_size=1, max_size=4),
    st.dictionaries(known_fields, st.text(max_size=20)),
)
def test_single_line_rendering_lets_no_value_break_the_line(
    fields: list[str], given_fields: dict[str, str]
) -> None:
    # Subjects are headers: a value with a line break must not start a new header.
    source = "Subject " + " ".join(f"{{{{ {name} }}}}" for name in fields)
    merge = {name: given_fields.get(name, "a\r\nBcc: x@example.org") for name in fields}
    rendered = render(parse_template(source), merge, single_line=True)
    assert len(rendered.splitlines()) == 1


@pytest.mark.parametrize(
    "source",
    [
        "Hello {{ password }}",
        "{{ attr. }}",
        "{{ attr.with space }}",
        "{{ attr.Tier }}",
        "{{ attr.9lives }}",
        "{{ first_name.x }}",
        "{{ FIRST_NAME }}",
        "{{}}",
    ],
)
def test_unknown_fields_are_rejected(source: str) -> None:
    with pytest.raises(TemplateError, match="unknown merge field"):
        parse_template(source)


@pytest.mark.parametrize("source", ["Hello {{ first_name", "{{ first_name } }", "{{{{ x"])
def test_broken_braces_are_rejected(source: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(source)


@given(st.text(max_size=40))
def test_parsing_any_text_either_succeeds_or_raises_template_error(source: str) -> None:
    try:
        template = parse_template(source)
    except TemplateError:
        return
    assert all(is_known_field(name) for name in template.fields)
    assert len(template.literals) == len(template.fields) + 1


def test_every_documented_field_is_known() -> None:
    for name in [
        "first_name",
        "last_name",
        "display_name",
        "organisation",
        "email",
        "phone",
        "attr.tax_amount",
    ]:
        assert is_known_field(name)


def test_render_example() -> None:
    template = parse_template("Dear {{first_name}} {{ last_name }}, {{ attr.tier }}!")
    assert render(template, {"first_name": "Ada", "attr.tier": "gold"}) == "Dear Ada , gold!"


@given(templates(), st.data())
def test_escape_applies_to_every_value_and_to_nothing_else(
    case: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    source, fields, _ = case
    given_fields = data.draw(
        st.dictionaries(st.sampled_from(fields), values) if fields else st.just({})
    )
    template = parse_template(source)
    escaped = render(template, given_fields, escape=lambda v: f"[{v.upper()}]")
    # Absent fields render as the escape of nothing: the escape sees every field.
    expected = render(template, {f: f"[{given_fields.get(f, '').upper()}]" for f in fields})
    assert escaped == expected
