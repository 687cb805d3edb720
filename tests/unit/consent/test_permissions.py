"""Who may grant, withdraw and read consent: rules that hold for every caller and scope."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshkit.identity import ROLE_ADMIN, ROLE_MANAGER, ROLE_SERVICE, Principal
from services.consent import policy
from services.consent.domain import Scope

COMPONENTS = ["law", "sciences", "medicine"]

scopes = st.one_of(st.just(Scope.grouping()), st.sampled_from(COMPONENTS).map(Scope.of))
principals = st.builds(
    Principal,
    subject=st.just("someone"),
    component=st.one_of(st.none(), st.sampled_from(COMPONENTS)),
    roles=st.frozensets(st.sampled_from([ROLE_ADMIN, ROLE_MANAGER, ROLE_SERVICE])),
)
plain = principals.filter(lambda p: not p.is_admin and not p.is_service)


@given(principals, scopes)
def test_withdrawing_is_never_harder_than_granting(principal: Principal, scope: Scope) -> None:
    if policy.may_grant(principal, scope):
        assert policy.may_withdraw(principal, scope)


@given(plain, scopes)
def test_a_component_grants_only_for_its_own_scope(principal: Principal, scope: Scope) -> None:
    own = principal.component is not None and scope == Scope.of(principal.component)
    assert policy.may_grant(principal, scope) == own


@given(principals)
def test_grouping_grants_need_the_admin_or_service_role(principal: Principal) -> None:
    expected = principal.is_admin or principal.is_service
    assert policy.may_grant(principal, Scope.grouping()) == expected


@given(principals)
def test_any_component_admin_or_service_may_withdraw_for_the_grouping(
    principal: Principal,
) -> None:
    expected = principal.component is not None or principal.is_admin or principal.is_service
    assert policy.may_withdraw(principal, Scope.grouping()) == expected


@given(plain, st.sampled_from(COMPONENTS))
def test_a_component_never_withdraws_for_another_component(
    principal: Principal, other: str
) -> None:
    if principal.component != other:
        assert not policy.may_withdraw(principal, Scope.of(other))


@given(principals, scopes)
def test_a_component_sees_grouping_events_and_its_own_only(
    principal: Principal, scope: Scope
) -> None:
    if principal.is_admin or principal.is_service:
        assert policy.may_see(principal, scope)
    elif principal.component is None:
        assert not policy.may_see(principal, scope)
    else:
        visible = scope in (Scope.grouping(), Scope.of(principal.component))
        assert policy.may_see(principal, scope) == visible


def test_reading_history_needs_a_component_or_a_role() -> None:
    assert not policy.may_read_history(Principal("x", roles=frozenset({ROLE_MANAGER})))
    assert policy.may_read_history(Principal("x", component="law"))
    assert policy.may_read_history(Principal("x", roles=frozenset({ROLE_ADMIN})))
    assert policy.may_read_history(Principal("x", roles=frozenset({ROLE_SERVICE})))
