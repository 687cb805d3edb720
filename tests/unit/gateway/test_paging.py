"""The answer of one page: its JSON, and an RFC 8288 link to the next page when there is one."""

from __future__ import annotations

from typing import get_origin
from urllib.parse import parse_qsl, urlsplit

from flask import Flask
from pydantic import BaseModel

from services.gateway import paging
from services.gateway.app import AREAS


class Listed(BaseModel):
    items: list[int]
    next_page_token: str


def test_a_page_with_a_next_one_links_to_it_keeping_the_query() -> None:
    app = Flask(__name__)
    query = "/v1/contacts?kind=person&filters=%5B%7B%22a%22%3A1%7D%5D&page_size=2&page_token=old"
    with app.test_request_context(query):
        response = paging.page(Listed(items=[1, 2], next_page_token="abc.DEF-_"), "abc.DEF-_")
    assert response.status_code == 200 and response.json == {
        "items": [1, 2],
        "next_page_token": "abc.DEF-_",
    }
    link = response.headers["Link"]
    assert link.startswith("<") and link.endswith('>; rel="next"')
    target = urlsplit(link[1 : link.index(">")])
    assert (target.scheme, target.netloc, target.path) == ("", "", "/v1/contacts")
    assert parse_qsl(target.query) == [
        ("kind", "person"),
        ("filters", '[{"a":1}]'),
        ("page_size", "2"),
        ("page_token", "abc.DEF-_"),
    ]


def test_the_last_page_has_no_link() -> None:
    with Flask(__name__).test_request_context("/v1/campaigns?page_size=2"):
        response = paging.page(Listed(items=[3], next_page_token=""), "")
    assert "Link" not in response.headers
    assert response.json == {"items": [3], "next_page_token": ""}


def test_the_link_ignores_the_host_the_caller_named() -> None:
    app = Flask(__name__)
    with app.test_request_context("/v1/components", headers={"Host": "evil.example"}):
        response = paging.page(Listed(items=[], next_page_token="t"), "t")
    assert response.headers["Link"] == '</v1/components?page_token=t>; rel="next"'


# Single documents that hold lists inside them, not lists of items: served whole.
DOCUMENTS = {
    "/v1/contacts/<contact_id>",
    "/v1/contacts/<contact_id>/consent",
    "/v1/contacts/<contact_id>/export",
    "/v1/organisation",
    "/v1/indicators",  # one protected table: its cells are bounded by the dimensions asked
    "/v1/pressure-policy",
    "/v1/pressure/dashboard",  # one month's figures: bounded by components × purposes × buckets
    "/v1/privacy-requests/<request_id>",
    "/consent/receipt-keys",
}


def test_every_list_the_gateway_serves_is_paged() -> None:
    """A GET whose answer is a list of items takes page_size and page_token and answers
    next_page_token: no list is fetched whole from a service."""
    unpaged = []
    for operation in (op for area in AREAS for op in area.routes.operations):
        model = operation.replies[0].model
        if operation.method != "GET" or model is None or operation.rule in DOCUMENTS:
            continue
        if not any(get_origin(f.annotation) is list for f in model.model_fields.values()):
            continue
        query = set(operation.query.model_fields) if operation.query else set()
        if (
            "next_page_token" not in model.model_fields
            or not {
                "page_size",
                "page_token",
            }
            <= query
        ):
            unpaged.append(operation.rule)
    assert unpaged == []
