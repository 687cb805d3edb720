"""Console area: pressure rules with their simulation, purposes and notices (placeholders
until their pages land)."""

from __future__ import annotations

from flask import Blueprint, render_template

from meshkit.roles import Role
from services.gateway.console import session as signed

blueprint = Blueprint("admin_catalogue", __name__, url_prefix="/admin")


@blueprint.get("/pressure")
@signed.role_required(Role.ADMIN, component=False)
def pressure() -> str:
    return render_template("console/placeholder.html", title="admin.pressure")


@blueprint.get("/purposes")
@signed.role_required(Role.ADMIN, component=False)
def purposes() -> str:
    return render_template("console/placeholder.html", title="admin.purposes")
