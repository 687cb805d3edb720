"""Reason codes: every outcome and the rule that decided it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.policy import (
    ConsentDecision,
    Outcome,
    Reachability,
    consent_outcome,
    consent_rule,
    is_permanent_smtp_failure,
    membership_outcome,
    smtp_rule,
)
from services.campaigns.pressure_policy import default_policy


def test_outcome_codes_are_those_the_contract_documents() -> None:
    # campaigns.proto lists these codes in the comment of Campaign.outcome_counts.
    codes = {
        "pending",
        "sent",
        "unconfirmed",
        "not_member",
        "no_email",
        "no_consent",
        "withdrawn",
        "capped",
        "invalid_address",
        "smtp_failed",
        "duplicate",
        "deferred",
        "expired",
        "cancelled",
    }
    assert {o.value for o in Outcome} == codes


@pytest.mark.parametrize(
    ("reachability", "outcome"),
    [
        (Reachability.OK, None),
        (Reachability.NOT_MEMBER, Outcome.NOT_MEMBER),
        (Reachability.NO_EMAIL, Outcome.NO_EMAIL),
    ],
)
def test_membership_outcomes(reachability: Reachability, outcome: Outcome | None) -> None:
    assert membership_outcome(reachability) == outcome


@given(st.booleans(), st.sampled_from(list(ConsentDecision)))
def test_consent_allows_only_with_a_basis(allowed: bool, decision: ConsentDecision) -> None:
    outcome = consent_outcome(allowed, decision)
    has_basis = decision in (
        ConsentDecision.CONSENT_GIVEN,
        ConsentDecision.LEGITIMATE_INTEREST,
        ConsentDecision.CONTRACT,
        ConsentDecision.LEGAL_OBLIGATION,
    )
    assert (outcome is None) == (allowed and has_basis)
    if outcome is not None:
        expected = (
            Outcome.WITHDRAWN
            if decision
            in (ConsentDecision.WITHDRAWN, ConsentDecision.OBJECTED, ConsentDecision.SUPPRESSED)
            else Outcome.NO_CONSENT
        )
        assert outcome is expected


def test_rule_codes() -> None:
    assert consent_rule(ConsentDecision.NO_CONSENT) == "consent:no_consent"
    assert consent_rule(ConsentDecision.WITHDRAWN) == "consent:withdrawn"
    assert smtp_rule(550) == "smtp:550"
    assert default_policy(3, 604800).rules[0].code == "pressure:grouping:3/604800s"


@given(st.integers(min_value=200, max_value=599))
def test_only_5xx_is_permanent(code: int) -> None:
    assert is_permanent_smtp_failure(code) == (code >= 500)
