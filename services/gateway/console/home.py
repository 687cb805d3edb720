"""The console's landing page: who is signed in, and the areas they may open."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from services.gateway.console import session as signed


def home() -> str | Response:
    principal = signed.load()
    if principal is None:
        return redirect(url_for("console.login.page"))
    return render_template("console/home.html")
