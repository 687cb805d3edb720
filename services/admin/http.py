"""The one HTTP client of the admin commands: every `crm` area talks to the gateway through it.

It speaks only to the gateway (never to a database), sends the bearer token,
turns a problem+json answer into a `GatewayError` and a network failure into
`Unreachable`, and follows `next_page_token` through paged lists.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
GATEWAY_VARIABLE = "CRM_GATEWAY"
TOKEN_VARIABLE = "CRM_TOKEN"
CHUNK = 256 * 1024
Query = Mapping[str, str | int | bool | None]


class CliError(Exception):
    """Something to tell the user on one line (or a few), then exit 1."""

    exit_code = 1


class UsageError(CliError):
    """Options that parse but do not go together: exit 2, as argparse's own usage errors."""

    exit_code = 2


class Unreachable(CliError):
    """The gateway did not answer: refused, unknown host, timed out, cut off."""


class GatewayError(CliError):
    """The gateway answered an error: its problem+json (RFC 9457), kept whole."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(describe_problem(status, problem))


def describe_problem(status: int, problem: Mapping[str, Any]) -> str:
    """`400 Bad Request: detail`, then one indented line per field violation."""
    title = problem.get("title", "")
    detail = problem.get("detail", "")
    lines = [f"{status} {title}: {detail}".rstrip(": ")]
    for error in problem.get("errors") or []:
        lines.append(f"  {error.get('field')}: {error.get('description')}")
    return "\n".join(lines)


def default_gateway() -> str:
    """The gateway named by CRM_GATEWAY, else the one `crm up` runs."""
    return os.environ.get(GATEWAY_VARIABLE) or DEFAULT_GATEWAY


@dataclass(frozen=True)
class Answer:
    """A successful answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


class Gateway:
    """The gateway at `base`, called with `token`; one connection per request."""

    def __init__(self, base: str, token: str | None, timeout: float = 10.0) -> None:
        token = token or os.environ.get(TOKEN_VARIABLE, "")
        if not token:
            raise CliError(
                f"no token: pass --token or set {TOKEN_VARIABLE} "
                "(e.g. from `crm token --role admin`)"
            )
        url = urllib.parse.urlsplit(base)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise CliError(f"--gateway: {base!r} is not an http(s) URL")
        self.base = base.rstrip("/")
        self._url = url
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, query: Query | None = None) -> Any:
        """Sends JSON (if any) and returns the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        return self.send(method, path, data, headers, query).json()

    def send(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Query | None = None,
        timeout: float | None = None,
        sink: IO[bytes] | None = None,
    ) -> Answer:
        """One request; an error status raises GatewayError, a network failure Unreachable.

        With `sink`, a successful answer's body is copied there as it arrives (a large
        import report), and the Answer's body is empty.
        """
        connection = self._connection(timeout or self.timeout)
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        sent |= dict(headers or {})
        try:
            connection.request(method, self._target(path, query), body=body, headers=sent)
            response = connection.getresponse()
            streamed = sink is not None and response.status < 400
            if sink is not None and streamed:
                shutil.copyfileobj(response, sink, CHUNK)
            answer = Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                b"" if streamed else response.read(),
            )
        except (OSError, http.client.HTTPException) as error:
            raise Unreachable(
                f"cannot reach the gateway at {self.base}: {_reason(error)}"
            ) from None
        finally:
            connection.close()
        if answer.status >= 400:
            raise GatewayError(answer.status, _problem(answer))
        return answer

    def pages(self, path: str, items: str, query: Query | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, following `next_page_token` until it is empty.

        A list that is not (yet) paged has no `next_page_token`: its one page is all.
        """
        asked = dict(query or {})
        seen: set[str] = set()
        while True:
            page = self.call("GET", path, query=asked) or {}
            yield from page.get(items) or []
            token = page.get("next_page_token") or ""
            if not token:
                return
            if token in seen:  # a gateway answering the same page again would loop forever
                raise CliError(f"the gateway repeated the page token of {path}")
            seen.add(token)
            asked["page_token"] = token

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        kind = (
            http.client.HTTPSConnection
            if self._url.scheme == "https"
            else http.client.HTTPConnection
        )
        return kind(self._url.netloc, timeout=timeout)

    def _target(self, path: str, query: Query | None) -> str:
        shown = {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in (query or {}).items()
            if v not in (None, "", False, 0)
        }
        suffix = f"?{urllib.parse.urlencode(shown)}" if shown else ""
        return f"{self._url.path.rstrip('/')}{path}{suffix}"


def quote(value: str) -> str:
    """One path segment, escaped (a subject like `alice@sciences` or an id with `/`)."""
    return urllib.parse.quote(value, safe="")


def _problem(answer: Answer) -> dict[str, Any]:
    try:
        problem = json.loads(answer.body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        # Not the gateway's problem+json (a proxy's HTML page, say): say only the status.
        problem = {"status": answer.status, "title": "", "detail": "the gateway answered"}
    return problem


def _reason(error: BaseException) -> str:
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(reason)
