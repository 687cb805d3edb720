"""The Flask application factory: blueprints, auth, error mapping, OpenAPI, gRPC clients."""

from __future__ import annotations

from typing import Any

from flask import Flask

from meshkit.grpc_client import open_channel
from meshkit.links import PersonLinks
from meshkit.organisation import Organisation, grpc_fetch
from meshkit.redis_url import connect_redis
from meshkit.unsubscribe import UnsubscribeTokens
from services.gateway import (
    auth,
    campaigns,
    consent,
    consent_links,
    console,
    contacts,
    idempotency,
    imports,
    indicators,
    interactions,
    meta,
    observability,
    openapi,
    organisation,
    person_links,
    preferences,
    pressure,
    pressure_dashboard,
    privacy,
    privacy_requests,
    problems,
    public,
    ratelimit,
    receipts,
    wsgi_limits,
)
from services.gateway.clients import EXTENSION as CLIENTS
from services.gateway.clients import Clients, open_clients
from services.gateway.settings import GatewaySettings
from services.gateway.wsgi_limits import JSON_BODY_BYTES

AREAS = (
    meta,
    contacts,
    imports,
    organisation,
    consent,
    campaigns,
    public,
    preferences,
    privacy,
    privacy_requests,
    consent_links,
    receipts,
    interactions,
    pressure,
    indicators,
    pressure_dashboard,
)


def create_app(
    settings: GatewaySettings,
    clients: Clients | None = None,
    tree: Organisation | None = None,
    redis: Any = None,
) -> Flask:
    """A gateway app; `clients` defaults to channels to the targets in `settings`.

    `tree` (the organisation client tokens are checked against) defaults to one
    reading contacts as the gateway itself, unless the caller passes its own `clients`;
    `redis` (idempotency keys, rate limits) to a connection to `settings.redis_url`.
    """
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = JSON_BODY_BYTES
    app.config[imports.MAX_BYTES] = settings.import_max_bytes
    operations = {}
    for area in AREAS:
        app.register_blueprint(area.blueprint)
        operations.update({op.endpoint: op for op in area.routes.operations})
    observability.install(app)  # first: the request id is bound before any other hook runs
    verifier = settings.verifier()
    if tree is None and clients is None:
        tree = Organisation(grpc_fetch(_as_gateway(settings)))
    auth.install(app, verifier, operations, tree)
    # After authentication (they count per caller), rate limits first: a 429 is never kept.
    redis = redis if redis is not None else connect_redis(settings.redis_url)
    prefix = settings.redis_key_prefix
    ratelimit.install(app, ratelimit.RateLimiter(redis, prefix), _budgets(settings), operations)
    store = idempotency.IdempotencyStore(
        redis, prefix, settings.idempotency_ttl_seconds, settings.idempotency_lock_seconds
    )
    idempotency.install(app, store, operations)
    problems.install(app)
    console.install(app, settings)  # after problems: its 404 page serves /console paths
    meta.install(app, openapi.document(operations.values()))
    public.install(app, UnsubscribeTokens(settings.unsubscribe_secret))
    # Person links share the unsubscribe secret with consent and campaigns, which sign them.
    person_links.install(app, PersonLinks(settings.unsubscribe_secret))
    app.extensions[CLIENTS] = clients if clients is not None else open_clients(settings)
    wsgi_limits.install(app, settings)  # 431 problem+json on a too-large head
    return app


def _budgets(settings: GatewaySettings) -> ratelimit.Budgets:
    return ratelimit.Budgets(
        caller=settings.rate_limit_per_minute,
        writes=settings.rate_limit_writes_per_minute,
        public=settings.rate_limit_public_per_minute,
    )


def _as_gateway(settings: GatewaySettings) -> object:
    """A channel to contacts with the gateway's own identity (reads the organisation tree)."""
    identity = settings.service_identity("gateway")
    return open_channel(
        settings.contacts_target,
        identity.token,
        settings.rpc_timeout_seconds,
        settings.channel_credentials(),
    )
