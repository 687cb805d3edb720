"""The real HTTP server answers a too-large head (431) and body (413) in problem+json.

The body's 413 and a malformed request's 400 are waitress's own answers (before Flask).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from services.gateway.settings import GatewaySettings
from services.gateway.wsgi_limits import serve
from tests.support.processes import free_port


@pytest.fixture
def address(app: Flask, settings: GatewaySettings) -> Iterator[tuple[str, int]]:
    port = free_port()
    mine = settings.model_copy(update={"listen": f"127.0.0.1:{port}", "threads": 2})
    server = serve(app, mine)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield ("127.0.0.1", port)
    server.close()
    thread.join(timeout=10)


def exchange(address: tuple[str, int], head: bytes) -> tuple[int, dict[str, str], Any]:
    """Sends a raw request head; returns the status, headers and JSON body of the answer."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    top, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_a_100_kb_header_is_a_431_problem(address: tuple[str, int]) -> None:
    head = (
        b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        b"X-Padding: " + b"a" * 100_000 + b"\r\n\r\n"
    )
    status, headers, problem = exchange(address, head)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert problem["status"] == 431 and problem["type"].startswith("urn:crm-mesh:problem:")
    assert "aaaa" not in json.dumps(problem)


def test_a_body_larger_than_any_upload_is_a_413_problem(
    address: tuple[str, int], settings: GatewaySettings
) -> None:
    too_large = settings.import_max_bytes + 10 * 1024 * 1024
    head = (
        f"POST /v1/contacts/imports HTTP/1.1\r\nHost: gw\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {too_large}\r\n\r\n"
    ).encode()
    status, headers, problem = exchange(address, head)
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert problem["status"] == 413 and problem["title"]


def test_the_servers_own_refusal_of_a_malformed_request_is_a_problem(
    address: tuple[str, int],
) -> None:
    status, headers, problem = exchange(
        address, b"GET /healthz HTTP/1.1\r\nHost: gw\r\nContent-Length: many\r\n\r\n"
    )
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert problem["status"] == 400


def test_an_ordinary_request_is_served(address: tuple[str, int]) -> None:
    status, headers, body = exchange(
        address, b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert body["status"] == "ok"
