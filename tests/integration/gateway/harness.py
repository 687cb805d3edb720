"""What the gateway's integration tests share: the running gateway and problem checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine

from tests.support.console import ConsoleClient
from tests.support.mesh import Api
from tests.support.oidc import TestProvider
from tests.support.tokens import TestKeys

UNSUBSCRIBE_SECRET = "gateway-integration-unsubscribe-secret"
A = "sciences"
B = "medecine"


@dataclass
class Gateway:
    """The running gateway, a REST client, the keys every process trusts, and the logs.

    `engine` is the contacts service's database, for declaring attributes and
    setting field policies directly (tests/integration/contacts/harness.py);
    `databases` every service's, by name, for checks that nothing was written.
    """

    api: Api
    keys: TestKeys
    logs: Path
    with_campaigns: bool
    engine: Engine
    targets: dict[str, str] = field(default_factory=dict)  # gRPC address of each service
    databases: dict[str, Engine] = field(default_factory=dict)
    provider: TestProvider | None = None  # the console signs people in with it

    def console(self) -> ConsoleClient:
        """A new browser-like console user (sign in with `.sign_in(person(...))`)."""
        assert self.provider is not None
        return ConsoleClient(self.api.base, self.provider)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.rglob("*.log"))


def problem(reply: Any, status: int) -> dict[str, Any]:
    """The reply is a problem+json with this status; returns its body."""
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json
    assert body["status"] == status
    return body


_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


def walk(api: Api, path: str, token: str, key: str, page_size: int) -> list[Any]:
    """Every item of a list, page by page, following each page's `Link` rel="next".

    Checks on the way: a page is never larger than asked, a page with a next one is
    full, and `Link` is present exactly when `next_page_token` is not empty and
    carries that token.
    """
    url = f"{path}{'&' if '?' in path else '?'}page_size={page_size}"
    items: list[Any] = []
    while True:
        reply = api.call("GET", url, token)
        assert reply.status == 200, reply.text
        page, next_token = reply.json[key], reply.json["next_page_token"]
        assert len(page) <= page_size
        items += page
        link = {k.lower(): v for k, v in reply.headers.items()}.get("link")
        if not next_token:
            assert link is None, link
            return items
        assert len(page) == page_size
        assert link is not None, "a page with a next one links to it"
        found = _NEXT.match(link)
        assert found is not None, link
        url = found.group(1)
        assert parse_qs(urlsplit(url).query)["page_token"] == [next_token]
        assert urlsplit(url).path == urlsplit(path).path


def refuses_bad_pages(api: Api, path: str, token: str, foreign_token: str) -> None:
    """Forged tokens, a token of another list and a negative size are 400s naming the field."""
    separator = "&" if "?" in path else "?"
    for query, field_name in (
        ("page_token=bm90LWEtdG9rZW4", "page_token"),  # not even shaped like a token
        ("page_token=WzFd.AAAAAAAAAAAAAAAA", "page_token"),  # shaped like one, never issued
        (f"page_token={foreign_token}", "page_token"),
        ("page_size=-1", "page_size"),
    ):
        body = problem(api.call("GET", f"{path}{separator}{query}", token), 400)
        assert [e["field"] for e in body["errors"]] == [field_name], body
