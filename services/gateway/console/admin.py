"""Console area: administration of the grouping: organisation tree, field policies and
"view as" (placeholders until their pages land)."""

from __future__ import annotations

from flask import Blueprint, render_template

from meshkit.roles import Role
from services.gateway.console import i18n
from services.gateway.console import session as signed

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

MESSAGES = {
    "admin.title": ("Administration", "Administration"),
    "admin.organisation": ("Organisation", "Organisation"),
    "admin.policies": ("Règles de visibilité des champs", "Field policies"),
    "admin.pressure": ("Pression marketing", "Marketing pressure"),
    "admin.purposes": ("Finalités et mentions", "Purposes and notices"),
}
i18n.register(MESSAGES)


@blueprint.get("/")
@signed.role_required(Role.ADMIN, component=False)
def index() -> str:
    return render_template("console/admin/index.html")


@blueprint.get("/organisation")
@signed.role_required(Role.ADMIN, component=False)
def organisation() -> str:
    return render_template("console/placeholder.html", title="admin.organisation")


@blueprint.get("/field-policies")
@signed.role_required(Role.ADMIN, component=False)
def policies() -> str:
    return render_template("console/placeholder.html", title="admin.policies")
