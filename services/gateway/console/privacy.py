"""Console area: the data-protection officer's pages (placeholder)."""

from __future__ import annotations

from flask import Blueprint, render_template

from services.gateway.console import session as signed

blueprint = Blueprint("privacy", __name__, url_prefix="/privacy")


@blueprint.get("/")
@signed.login_required
def index() -> str:
    return render_template("console/placeholder.html", title="nav.privacy")
