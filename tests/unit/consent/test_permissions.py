"""Who may grant, withdraw and read consent: rules that hold for every caller and scope."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshkit.identity import ROLE_ADMIN, ROLE_MANAGER, ROLE_SERVICE, Principal
from meshkit.roles import Role
from services.consent import policy
from services.consent.domain import EventKind, How, Scope

COMPONENTS = ["law", "sciences", "medicine"]

scopes = st.one_of(st.just(Scope.grouping()), st.sampled_from(COMPONENTS).map(Scope.of))
principals = st.builds(
    Principal,
    subject=st.just("someone"),
    component=st.one_of(st.none(), st.sampled_from(COMPONENTS)),
    roles=st.frozensets(st.sampled_from([ROLE_ADMIN, ROLE_MANAGER, ROLE_SERVICE, Role.DPO])),
)
plain = principals.filter(lambda p: not p.is_admin and not p.is_service)


@given(principals, scopes)
def test_withdrawing_is_never_harder_than_granting(principal: Principal, scope: Scope) -> None:
    if policy.may_grant(principal, scope):
        assert policy.may_withdraw(principal, scope)


@given(plain, scopes, st.frozensets(st.sampled_from(COMPONENTS)))
def test_staff_grant_only_for_their_own_scope_of_a_contact_they_know(
    principal: Principal, scope: Scope, members: frozenset[str]
) -> None:
    own = principal.component is not None and scope == Scope.of(principal.component)
    member = principal.component in members
    assert policy.may_grant(principal, scope, members) == (own and member)


@given(principals)
def test_grouping_grants_need_the_admin_or_service_role(principal: Principal) -> None:
    expected = principal.is_admin or principal.is_service
    assert policy.may_grant(principal, Scope.grouping()) == expected


@given(principals, st.frozensets(st.sampled_from(COMPONENTS)))
def test_a_grouping_withdrawal_needs_admin_service_or_a_dpo_who_knows_the_contact(
    principal: Principal, members: frozenset[str]
) -> None:
    dpo = principal.has_role(Role.DPO) and (
        principal.component is None or principal.component in members
    )
    expected = principal.is_admin or principal.is_service or dpo
    assert policy.may_withdraw(principal, Scope.grouping(), members) == expected
    assert policy.may_record(principal, EventKind.OBJECTED, Scope.grouping(), members) == expected


@given(plain, st.sampled_from(list(EventKind)), scopes, st.frozensets(st.sampled_from(COMPONENTS)))
def test_staff_never_record_for_a_contact_their_component_does_not_know(
    principal: Principal, kind: EventKind, scope: Scope, members: frozenset[str]
) -> None:
    if principal.component is not None and principal.component not in members:
        assert not policy.may_record(principal, kind, scope, members)


@given(plain, st.sampled_from(list(EventKind)), scopes, st.frozensets(st.sampled_from(COMPONENTS)))
def test_only_services_and_admins_record_jobs_and_confirmations(
    principal: Principal, kind: EventKind, scope: Scope, members: frozenset[str]
) -> None:
    if kind in (EventKind.EXPIRED, EventKind.REVALIDATED, EventKind.CONFIRMED):
        assert not policy.may_record(principal, kind, scope, members)


@given(principals, st.sampled_from(list(How)))
def test_the_persons_own_acts_and_the_jobs_are_recorded_by_services(
    principal: Principal, how: How
) -> None:
    staff_hows = {How.WEB_FORM, How.IMPORT, How.PHONE_AGENT, How.STAFF}
    expected = principal.is_admin or principal.is_service or how in staff_hows
    assert policy.may_use_how(principal, how) == expected


@given(principals, scopes, st.frozensets(st.sampled_from(COMPONENTS)))
def test_withdrawing_is_never_harder_than_granting_for_any_contact(
    principal: Principal, scope: Scope, members: frozenset[str]
) -> None:
    if policy.may_grant(principal, scope, members):
        assert policy.may_withdraw(principal, scope, members)


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
        assert policy.may_see(principal, scope) == principal.has_role(Role.DPO)
    else:
        visible = scope in (Scope.grouping(), Scope.of(principal.component))
        assert policy.may_see(principal, scope) == visible


def test_reading_history_needs_a_component_or_a_role() -> None:
    assert not policy.may_read_history(Principal("x", roles=frozenset({ROLE_MANAGER})))
    assert policy.may_read_history(Principal("x", component="law"))
    assert policy.may_read_history(Principal("x", roles=frozenset({ROLE_ADMIN})))
    assert policy.may_read_history(Principal("x", roles=frozenset({ROLE_SERVICE})))
