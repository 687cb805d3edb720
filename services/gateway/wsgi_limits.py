"""Size limits of requests, refused in problem+json whoever refuses them.

The gateway's own limit on the request head (`max_header_bytes`) is a WSGI
middleware in front of Flask, so it holds under any WSGI server and answers after
the whole head was read (a server that closes a connection with unread data resets
it, and the client may never see the answer). Waitress itself keeps a hard stop
further out (eight times that head, and the largest upload plus its multipart
framing for a body) and answers those, and its 400s on a malformed request,
before any WSGI app runs: its channels here write them as the same RFC 9457
problem+json every other gateway error is, not its text/plain.

Behind `forwarded_hops` trusted reverse proxies (GATEWAY_FORWARDED_HOPS), werkzeug's
ProxyFix, also in front, takes the client's address and scheme from the proxies'
X-Forwarded-For and X-Forwarded-Proto, so per-IP rate limits count clients, not the proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask
from werkzeug.middleware.proxy_fix import ProxyFix

from services.gateway.problems import PROBLEM_JSON, problem_body
from services.gateway.settings import GatewaySettings

# A multipart upload carries its part headers and boundaries around the file itself.
MULTIPART_SLACK = 64 * 1024
JSON_BODY_BYTES = 1024 * 1024  # the largest JSON body a view reads (Flask refuses more, 413)

_DETAILS = {
    431: "the request's headers are larger than the gateway accepts",
    413: "the request's body is larger than the gateway accepts",
}


class ProblemErrorTask(ErrorTask):  # type: ignore[misc]  # waitress has no type hints
    """Waitress's own error answer, as problem+json (never quoting the request)."""

    def execute(self) -> None:
        error = self.request.error
        detail = _DETAILS.get(error.code, "the request could not be read")
        body = problem_body(error.code, error.reason, detail, error.reason)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", PROBLEM_JSON))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class ProblemChannel(HTTPChannel):  # type: ignore[misc]
    """A waitress channel whose error answers are problem+json."""

    error_task_class = ProblemErrorTask


def limits(settings: GatewaySettings) -> dict[str, int]:
    """Waitress's hard size limits for these settings: the head, and the largest upload."""
    body = max(settings.import_max_bytes + MULTIPART_SLACK, JSON_BODY_BYTES)
    head = settings.max_header_bytes * HARD_HEAD_FACTOR
    return {"max_request_header_size": head, "max_request_body_size": body}


HARD_HEAD_FACTOR = 8
StartResponse = Callable[..., Any]


def head_size(environ: dict[str, Any]) -> int:
    """About the bytes of the request line and headers, as the WSGI environ holds them."""
    size = len(environ.get("REQUEST_METHOD", "")) + len(environ.get("RAW_URI") or "") + 11
    for name, value in environ.items():
        if name.startswith("HTTP_") or name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            size += len(name) + len(str(value)) + 4  # "Name: value\r\n"
    return size


class HeadLimit:
    """Answers 431 problem+json when the request head is larger than the gateway accepts."""

    def __init__(self, app: Callable[..., Iterable[bytes]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if head_size(environ) <= self.max_bytes:
            return self.app(environ, start_response)
        title = "Request Header Fields Too Large"
        body = problem_body(431, title, _DETAILS[431], title)
        headers = [("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(body)))]
        start_response(f"431 {title}", headers)
        return [body]


def install(app: Flask, settings: GatewaySettings) -> None:
    """Puts the head limit in front of the Flask app and, behind `forwarded_hops` trusted
    proxies, takes the client's address and scheme from their X-Forwarded-* headers."""
    inner: Any = app.wsgi_app
    if settings.forwarded_hops:
        hops = settings.forwarded_hops
        inner = ProxyFix(inner, x_for=hops, x_proto=hops)
    app.wsgi_app = HeadLimit(inner, settings.max_header_bytes)  # type: ignore[method-assign]


def serve(app: Any, settings: GatewaySettings, **adjustments: Any) -> Any:
    """A waitress server for `app` on `settings.listen` whose refusals are problem+json."""
    sockets: dict[int, Any] = {}
    server = create_server(
        app,
        map=sockets,
        listen=settings.listen,
        threads=settings.threads,
        **limits(settings),
        **adjustments,
    )
    for dispatcher in sockets.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = ProblemChannel
    return server
