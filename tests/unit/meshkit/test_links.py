"""Person links: each kind opens only itself, expires on its own clock, refuses tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import Expired, NotFound
from meshkit.links import LIFETIMES, LinkKind, PersonLinks

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


ids = st.text(min_size=1, max_size=40)


@given(kind=st.sampled_from(LinkKind), contact=ids, ref=st.text(max_size=40))
def test_a_link_opens_its_own_kind_with_its_content(kind: LinkKind, contact: str, ref: str) -> None:
    links = PersonLinks("secret")
    link = links.verify(kind, links.sign(kind, contact, ref))
    assert (link.kind, link.contact_id, link.ref) == (kind, contact, ref)


@given(signed=st.sampled_from(LinkKind), opened=st.sampled_from(LinkKind))
def test_a_link_never_opens_another_kind(signed: LinkKind, opened: LinkKind) -> None:
    links = PersonLinks("secret")
    token = links.sign(signed, "c1", "r")
    if signed is opened:
        assert links.verify(opened, token).contact_id == "c1"
    else:
        with pytest.raises(NotFound):
            links.verify(opened, token)


@pytest.mark.parametrize("kind", list(LinkKind))
def test_a_link_expires_after_its_lifetime_and_not_before(kind: LinkKind) -> None:
    clock = Clock()
    links = PersonLinks("secret", clock=clock)
    token = links.sign(kind, "c1")
    clock.now = T0 + LIFETIMES[kind]
    assert links.verify(kind, token).contact_id == "c1"
    clock.now = T0 + LIFETIMES[kind] + timedelta(seconds=1)
    with pytest.raises(Expired):
        links.verify(kind, token)


@given(position=st.integers(min_value=0, max_value=200), char=st.sampled_from("aZ0-_"))
def test_an_altered_or_foreign_link_is_refused(position: int, char: str) -> None:
    links = PersonLinks("secret")
    token = links.sign(LinkKind.PREFERENCES, "c1", "campaign")
    index = position % len(token)
    altered = token[:index] + char + token[index + 1 :]
    if altered != token:
        try:
            opened = links.verify(LinkKind.PREFERENCES, altered)
        except NotFound:
            pass
        else:
            # The last base64 character of a segment carries unused low bits: changing
            # only those decodes to the very same bytes, so to the same link, never another.
            assert opened == links.verify(LinkKind.PREFERENCES, token)
    with pytest.raises(NotFound):
        PersonLinks("another secret").verify(LinkKind.PREFERENCES, token)
