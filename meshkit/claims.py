"""From an identity provider's claims to the mesh's placement and roles (pure rules).

The defaults read a Keycloak token unchanged: `groups` holds full group paths
such as `/sciences/relations-entreprises` (component `sciences`, service
`relations-entreprises`), roles come from `realm_access.roles` (and
`resource_access.<client>.roles` when a client is named), the level from a
`level` claim, the address from `email`.

Several groups: only the groups under `group_prefix` count, and only paths of
one or two segments (`/component` or `/component/service`). When more than
one remains, the token must name its component in `component_claim`, and the
groups of that component must then leave one placement; otherwise the token is
refused as ambiguous. No group at all: no component (a grouping-level caller).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meshkit.roles import Role

# Roles an identity provider may grant; `service` belongs to the mesh's own keys only.
USER_ROLES = frozenset(role.value for role in Role if role is not Role.SERVICE)


class ClaimsError(ValueError):
    """The claims cannot be mapped; the message names claims, never their values."""


class ClaimsMapping(BaseModel):
    """Where each part of the mesh's identity sits in one issuer's tokens."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a default

    subject_claim: str = Field("sub", description="Claim holding the caller's stable subject.")
    groups_claim: str = Field("groups", description="Claim holding group paths.")
    group_prefix: str = Field(
        "/", description="Only group paths under this prefix place the caller, e.g. `/crm/`."
    )
    component_claim: str = Field(
        "crm_component",
        description="Claim naming the component to act for when several groups place the caller.",
    )
    level_claim: str | None = Field("level", description="Claim holding the hierarchy level.")
    role_claims: list[str] = Field(
        default_factory=lambda: ["realm_access.roles"],
        description="Dotted paths of role lists, e.g. `resource_access.crm.roles`.",
    )
    role_names: dict[str, str] = Field(
        default_factory=dict,
        description='Provider role name -> mesh role, e.g. {"crm-admin": "admin"}.',
    )
    email_claim: str | None = Field("email", description="Claim holding the caller's address.")

    @field_validator("role_names")
    @classmethod
    def _renames_name_mesh_roles(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - USER_ROLES)
        if unknown:
            raise ValueError(
                f"role_names maps onto unknown roles {unknown}; one of {sorted(USER_ROLES)}"
            )
        return value


@dataclass(frozen=True)
class MappedIdentity:
    """What the mapping found: the fields of a Principal."""

    subject: str
    component: str | None
    service: str | None
    level: str | None
    roles: frozenset[str]
    email: str | None


def map_claims(claims: Mapping[str, Any], mapping: ClaimsMapping) -> MappedIdentity:
    """The identity `claims` describe under `mapping`; ClaimsError when they cannot."""
    subject = _text(claims, mapping.subject_claim)
    if not subject:
        raise ClaimsError(f"missing claim {mapping.subject_claim}")
    component, service = placement(
        _strings(claims, mapping.groups_claim),
        mapping.group_prefix,
        _text(claims, mapping.component_claim),
    )
    roles = mesh_roles(
        [name for path in mapping.role_claims for name in _strings(claims, path)],
        mapping.role_names,
    )
    return MappedIdentity(
        subject=subject,
        component=component,
        service=service,
        level=_text(claims, mapping.level_claim) if mapping.level_claim else None,
        roles=roles,
        email=_text(claims, mapping.email_claim) if mapping.email_claim else None,
    )


def parse_group(path: str, prefix: str) -> tuple[str, str | None] | None:
    """(component, service) of a group path under `prefix`, or None when it places nobody."""
    if not path.startswith(prefix):
        return None
    parts = path[len(prefix) :].strip("/").split("/")
    if not 1 <= len(parts) <= 2 or not all(parts):
        return None
    return parts[0], (parts[1] if len(parts) == 2 else None)


def placement(
    groups: list[str], prefix: str, preferred: str | None
) -> tuple[str | None, str | None]:
    """The one (component, service) the groups give, by the rule in the module docstring."""
    found = {place for path in groups if (place := parse_group(path, prefix)) is not None}
    if preferred is not None:
        found = {place for place in found if place[0] == preferred}
        if not found:
            raise ClaimsError("the preferred component is not among the caller's groups")
    if not found:
        return None, None
    if len(found) > 1:
        raise ClaimsError("several groups place the caller: the token must name one component")
    return next(iter(found))


def mesh_roles(names: list[str], renames: Mapping[str, str]) -> frozenset[str]:
    """The mesh roles among provider role `names` (renamed first); unknown names are dropped.

    `service` is kept when a provider grants it, so that the verifier refuses the token:
    a user token may never pass for a service of the mesh.
    """
    renamed = {renames.get(name, name) for name in names}
    return frozenset(name for name in renamed if name in USER_ROLES or name == Role.SERVICE)


def _value(claims: Mapping[str, Any], path: str) -> Any:
    if path in claims:  # a claim whose own name has dots (e.g. a URL-like name)
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(claims: Mapping[str, Any], path: str | None) -> str | None:
    if path is None:
        return None
    value = _value(claims, path)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ClaimsError(f"{path} must be a string")
    return value


def _strings(claims: Mapping[str, Any], path: str) -> list[str]:
    value = _value(claims, path)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ClaimsError(f"{path} must be a list of strings")
    return value
