"""Roles a token carries, and the checks that refuse a principal lacking one."""

from __future__ import annotations

import pytest

from meshkit.errors import PermissionDenied
from meshkit.identity import ROLE_ADMIN, ROLE_MANAGER, ROLE_SERVICE, Principal
from meshkit.roles import Role


def test_roles_have_the_words_tokens_carry() -> None:
    assert {r.value for r in Role} >= {
        "viewer",
        "contact_editor",
        "campaign_manager",
        "dpo",
        "admin",
        "service",
    }
    # The old constants are the enum's members, so existing callers keep working.
    assert (ROLE_ADMIN, ROLE_MANAGER, ROLE_SERVICE) == (
        Role.ADMIN,
        Role.CAMPAIGN_MANAGER,
        Role.SERVICE,
    )


def test_has_role_reads_the_token_roles() -> None:
    manager = Principal("ana@sciences", component="sciences", roles=frozenset({"campaign_manager"}))
    assert manager.has_role(Role.CAMPAIGN_MANAGER)
    assert not manager.has_role(Role.ADMIN)
    assert not Principal("x").has_role(Role.VIEWER)


@pytest.mark.parametrize("roles", [frozenset(), frozenset({"staff"}), frozenset({"admin", "dpo"})])
def test_require_role_names_the_missing_role_and_nothing_personal(roles: frozenset[str]) -> None:
    principal = Principal("ana.secret@sciences", component="sciences", roles=roles)
    with pytest.raises(PermissionDenied) as raised:
        principal.require_role(Role.CAMPAIGN_MANAGER)
    assert "campaign_manager" in raised.value.detail
    assert "ana.secret" not in raised.value.detail
    assert "sciences" not in raised.value.detail


def test_require_role_passes_with_the_role() -> None:
    Principal("x", roles=frozenset({"dpo"})).require_role(Role.DPO)


def test_admin_is_a_role_like_the_others() -> None:
    with pytest.raises(PermissionDenied, match="admin"):
        Principal("x", component="sciences", roles=frozenset({"campaign_manager"})).require_admin()
    Principal("x", roles=frozenset({"admin"})).require_admin()
