"""Talking to a running contacts service in tests: calls with tokens, errors, row counts.

`declare` and `set_policy` write the catalogue and the field policies straight
into the service's database (the service reads both fresh on every request):
the tests do not depend on the admin RPCs that manage them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import Engine, text

from protos.crm.contacts.v1 import contacts_pb2_grpc
from tests.support.tokens import TestKeys


@dataclass
class ContactsServer:
    """The running service, a stub to call it with a token, and its database for counting."""

    target: str
    keys: TestKeys
    stub: contacts_pb2_grpc.ContactsServiceStub
    channel: grpc.Channel
    engine: Engine
    log_file: Path
    consent_target: str = ""  # the consent process beside it, when the module runs one

    def call(self, method: str, request: Any, token: str | None) -> Any:
        """Calls one RPC with `token` as bearer (none when None) and a deadline."""
        metadata = [("authorization", f"Bearer {token}")] if token is not None else []
        return getattr(self.stub, method)(request, metadata=metadata, timeout=10)

    def fails(self, method: str, request: Any, token: str | None) -> grpc.RpcError:
        """Calls one RPC that must fail, and returns its error."""
        with pytest.raises(grpc.RpcError) as caught:
            self.call(method, request, token)
        return caught.value

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    def counts(self) -> dict[str, int]:
        tables = ("components", "contacts", "memberships", "contact_values", "sensitive_reads")
        return {table: self.count(table) for table in tables}

    def sql(self, statement: str, **parameters: Any) -> list[Any]:
        """Rows of one read of the service's database (never through the API)."""
        with self.engine.connect() as connection:
            return list(connection.execute(text(statement), parameters).all())


class HasDatabase(Protocol):
    """A running contacts service whose database a test may write directly."""

    @property
    def engine(self) -> Engine: ...


def declare(server: HasDatabase, component: str, key: str, type_: str = "text") -> str:
    """Declares `<component>.<key>` in the catalogue (once); returns its field id."""
    with server.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO attribute_definitions"
                " (component_id, key, type, choices, label_fr, label_en, created_at)"
                " VALUES (:component, :key, :type, CAST('[]' AS json), :key, :key, :now)"
                " ON CONFLICT (component_id, key) DO NOTHING"
            ),
            {"component": component, "key": key, "type": type_, "now": datetime.now(UTC)},
        )
    return f"{component}.{key}"


def set_policy(
    server: HasDatabase,
    field: str,
    read: Sequence[dict[str, Any]],
    write: Sequence[dict[str, Any]] = ({"audience": "owner"},),
) -> None:
    """Replaces the policy of `field`: lists of grants as the service stores them."""
    with server.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO field_policies (field, read, write, updated_by, updated_at)"
                " VALUES (:field, CAST(:read AS json), CAST(:write AS json), 'test', :now)"
                " ON CONFLICT (field) DO UPDATE SET read = excluded.read,"
                " write = excluded.write, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at"
            ),
            {
                "field": field,
                "read": json.dumps(list(read)),
                "write": json.dumps(list(write)),
                "now": datetime.now(UTC),
            },
        )


def drop_policy(server: HasDatabase, field: str) -> None:
    """Back to deny by default for `field`."""
    with server.engine.begin() as connection:
        connection.execute(text("DELETE FROM field_policies WHERE field = :f"), {"f": field})


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    """The field violations a failed call carries, read from its rich status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no rich status"
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            found.update({v.field: v.description for v in bad_request.field_violations})
    return found


def error_text(error: grpc.RpcError) -> str:
    """Everything a caller can read from a failed call: message and every detail."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    return f"{error.details()} {status}"  # type: ignore[attr-defined]
