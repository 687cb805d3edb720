"""Console area: the campaigns of the signed-in manager's component (placeholder)."""

from __future__ import annotations

from flask import Blueprint, render_template

from services.gateway.console import session as signed

blueprint = Blueprint("campaigns", __name__, url_prefix="/campaigns")


@blueprint.get("/")
@signed.login_required
def index() -> str:
    return render_template("console/placeholder.html", title="nav.campaigns")
