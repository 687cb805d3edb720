"""The HTTP server (waitress) with the gateway's size limits, refusing in problem+json too.

Waitress answers a request head larger than `max_request_header_size` (431) and a
body larger than `max_request_body_size` (413) itself, before any WSGI app runs,
in text/plain. Its channels here write those answers (and its 400s on a malformed
request) as the same RFC 9457 problem+json every other gateway error is.
"""

from __future__ import annotations

from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

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
    """Waitress's size limits for these settings: the head, and the largest upload."""
    body = max(settings.import_max_bytes + MULTIPART_SLACK, JSON_BODY_BYTES)
    return {"max_request_header_size": settings.max_header_bytes, "max_request_body_size": body}


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
