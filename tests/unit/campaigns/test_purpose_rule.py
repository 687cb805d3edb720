"""Which purposes of consent's catalogue a new campaign may name: active ones that use email."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.policy import CataloguePurpose, purpose_refusal

CHANNELS = st.frozensets(st.sampled_from(["email", "sms", "phone", "post"]))


def test_an_unknown_purpose_is_refused() -> None:
    assert purpose_refusal(None) == "is not a purpose of the consent catalogue"


@given(active=st.booleans(), channels=CHANNELS)
def test_only_an_active_purpose_that_uses_email_is_allowed(
    active: bool, channels: frozenset[str]
) -> None:
    refusal = purpose_refusal(CataloguePurpose("newsletter", active, channels))
    assert (refusal is None) == (active and "email" in channels)
    if not active:
        assert refusal is not None and "active" in refusal
    elif "email" not in channels:
        assert refusal is not None and "email" in refusal
