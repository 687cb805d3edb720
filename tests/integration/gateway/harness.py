"""What the gateway's integration tests share: the running gateway and problem checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.support.mesh import Api
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

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.rglob("*.log"))


def problem(reply: Any, status: int) -> dict[str, Any]:
    """The reply is a problem+json with this status; returns its body."""
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json
    assert body["status"] == status
    return body
