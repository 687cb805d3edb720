"""The web console: server-rendered pages for campaign managers, data-protection officers
and admins, served by the gateway under /console.

Each page calls the same gRPC stubs as the API with the signed-in user's own
token (services.gateway.clients.upstream), so every service decides again
what this person may see or do. Areas are blueprints of their own (campaigns,
contacts, privacy, admin, indicators, the pressure
dashboard) nested in the `console` blueprint, which adds to
every request the language, the CSRF check, the security headers and the
error pages.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask

from services.gateway.console import (
    admin,
    admin_catalogue,
    admin_indicators,
    campaigns,
    contacts,
    errors,
    home,
    indicators,
    login,
    pages,
    pressure_dashboard,
    pressure_panel,
    privacy,
)
from services.gateway.settings import GatewaySettings

AREAS = (
    login,
    campaigns,
    contacts,
    privacy,
    admin,
    admin_catalogue,
    admin_indicators,
    pressure_panel,
    pressure_dashboard,
    indicators,
)

blueprint = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
for _area in AREAS:
    blueprint.register_blueprint(_area.blueprint)
blueprint.add_url_rule("/", "home", home.home)
pages.install(blueprint)
errors.install(blueprint)


def install(app: Flask, settings: GatewaySettings) -> None:
    """Serves the console on `app` with the sign-in methods `settings` allow."""
    app.secret_key = settings.console_secret
    app.config.update(
        SESSION_COOKIE_NAME="crm_console",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.console_secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console_session_hours),
        CONSOLE_PUBLIC_URL=settings.console_public_url,
    )
    app.extensions.update(login.configure(settings))
    pages.install_globals(app)
    app.register_blueprint(blueprint)
    errors.install_app(app)
