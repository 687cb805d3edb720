"""Console area: contact search and the contact page (placeholder)."""

from __future__ import annotations

from flask import Blueprint, render_template

from services.gateway.console import session as signed

blueprint = Blueprint("contacts", __name__, url_prefix="/contacts")


@blueprint.get("/")
@signed.login_required
def index() -> str:
    return render_template("console/placeholder.html", title="nav.contacts")
