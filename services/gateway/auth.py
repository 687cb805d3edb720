"""Authentication and component scopes, checked before any view runs.

The operation's declared access (services.gateway.api.Access) and role decide:
public routes pass; every other route needs a verified bearer token (401
otherwise); contacts, consent and campaign routes a token acting for a
component, and a route that needs a role (campaign writes: campaign_manager,
components: admin) a token carrying it (403 otherwise, naming the role). The
principal and the raw token go on flask.g; the token is forwarded upstream,
where each service checks again.

When an organisation client is installed, the verified token is first checked
against the organisation tree: a component, service or level the tree does not
know is refused (403), and a person of the tree acts with the tree's place and
roles; the role the route needs is then checked on that effective principal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from meshkit.identity import Principal, TokenVerifier
from meshkit.organisation import Organisation
from services.gateway.api import Access, Operation, require_role

EXTENSION = "crm.gateway.auth"


@dataclass(frozen=True)
class Gatekeeper:
    """The verifier, and the access each endpoint asks for."""

    verifier: TokenVerifier
    operations: Mapping[str, Operation]
    organisation: Organisation | None = None


def install(
    app: Flask,
    verifier: TokenVerifier,
    operations: Mapping[str, Operation],
    organisation: Organisation | None = None,
) -> None:
    """Checks every request to a declared, non-public route before its view."""
    app.extensions[EXTENSION] = Gatekeeper(verifier, operations, organisation)
    app.before_request(authenticate)


def authenticate() -> None:
    """Verifies the bearer token and the route's access level; raises 401 or 403."""
    keeper: Gatekeeper = current_app.extensions[EXTENSION]
    # Unknown routes and wrong methods have no endpoint: Flask answers them with 404/405.
    operation = keeper.operations.get(request.endpoint or "")
    if operation is None or operation.access is Access.PUBLIC:
        return
    header = request.headers.get("Authorization")
    principal = keeper.verifier.verify_header(header)
    if keeper.organisation is not None:
        principal = keeper.organisation.effective(principal)
    g.principal = principal
    g.token = (header or "").partition(" ")[2].strip()
    operation.access.require(principal)
    require_role(operation.role, principal)


def principal() -> Principal:
    """The verified caller of the request being served."""
    caller: Principal = g.principal
    return caller
