"""Privacy requests through the gateway, driven by consent's job against the real contacts and
campaigns processes and consent's own suppression list: erasure leaves nothing but the
tombstone and the suppression hash, access gathers one document, a part down waits."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import grpc
import jsonschema
import redis
from sqlalchemy import Engine, inspect, text

from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from tests.integration.gateway.harness import A, problem
from tests.integration.privacy.conftest import ROOT, Mesh
from tests.support.stores import REDIS_URL

# Where contacts keeps an erased contact's id: its tombstone, and the id-only history of
# what happened to the record (actions and field names, who did them: never a value).
TOMBSTONE_TABLES = {"contact_tombstones", "contact_changes", "sensitive_reads"}


def editor(mesh: Mesh) -> str:
    return mesh.keys.issuer.mint(f"editor@{A}", component=A, roles=["contact_editor"])


def dpo(mesh: Mesh, component: str | None = None) -> str:
    return mesh.keys.issuer.mint(
        f"dpo@{component or 'grouping'}", component=component, roles=["dpo"]
    )


def person(mesh: Mesh) -> tuple[str, str, str]:
    """A contact of A with an address, a name and a consent: (id, address, name)."""
    tag = uuid.uuid4().hex[:10]
    address, name = f"erase.{tag}@example.org", f"Surname{tag}"
    fields = {"email": address, "last_name": name}
    created = mesh.api.call(
        "POST", "/v1/contacts", editor(mesh), {"kind": "person", "fields": fields}
    )
    assert created.status == 201, created.text
    contact_id = str(created.json["contact"]["id"])
    granted = mesh.api.call(
        "POST",
        f"/v1/contacts/{contact_id}/consents",
        editor(mesh),
        {
            "channel": "email",
            "purpose": "newsletter",
            "scope": "component",
            "source": "web-form",
            "text_shown": "I agree to receive the newsletter.",
        },
    )
    assert granted.status == 201, granted.text
    return contact_id, address, name


def open_request(mesh: Mesh, kind: str, contact_id: str) -> dict[str, Any]:
    reply = mesh.api.call(
        "POST", "/v1/privacy-requests", dpo(mesh), {"kind": kind, "contact_id": contact_id}
    )
    assert reply.status == 202, reply.text
    assert reply.headers["Location"] == f"/v1/privacy-requests/{reply.json['id']}"
    return dict(reply.json)


def wait_status(mesh: Mesh, request_id: str, *wanted: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = mesh.api.call("GET", f"/v1/privacy-requests/{request_id}", dpo(mesh))
        # A 503 while the gateway's channels reconnect to a restarted service: ask again.
        assert reply.status in (200, 503), reply.text
        if reply.status == 200 and reply.json["status"] in wanted:
            return dict(reply.json)
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.1)


def mentions(engine: Engine, needles: Sequence[str]) -> set[str]:
    """The tables with a row holding one of `needles` in any column (every table, every row)."""
    found = set()
    inspector = inspect(engine)
    with engine.connect() as connection:
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                name = column["name"]
                rows = connection.execute(text(f'SELECT "{name}"::text FROM "{table}"'))
                if any(v is not None and any(n in v for n in needles) for (v,) in rows):
                    found.add(table)
    return found


def redis_mentions(mesh: Mesh, needles: Sequence[str]) -> list[str]:
    """The keys under campaigns' prefix whose name or value holds one of `needles`."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    found = []
    try:
        for key in client.scan_iter(match=f"{mesh.redis_prefix}*", count=1000):
            kind = client.type(key)
            if kind == "string":
                values = [client.get(key) or ""]
            elif kind == "zset":
                values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "hash":
                values = [f"{k}={v}" for k, v in client.hgetall(key).items()]
            elif kind == "set":
                values = list(client.smembers(key))
            else:
                values = list(client.lrange(key, 0, -1))
            if any(n in text for text in [key, *values] for n in needles):
                found.append(key)
    finally:
        client.close()
    return found


def suppressed(mesh: Mesh, address: str) -> bool:
    """Whether consent's suppression list holds the address (asked as a mesh service)."""
    with grpc.insecure_channel(mesh.targets["consent"]) as channel:
        reply = consent_pb2_grpc.ConsentServiceStub(channel).FilterSuppressed(
            consent_pb2.FilterSuppressedRequest(addresses=[address]),
            metadata=[("authorization", f"Bearer {mesh.keys.service('contacts')}")],
            timeout=10,
        )
    return list(reply.suppressed_indexes) == [0]


def mail_them(mesh: Mesh, contact_id: str, address: str) -> None:
    """A's newsletter reaches the person through campaigns (a ledger row, pressure slots)."""
    manager = mesh.keys.manager(A)
    created = mesh.api.call(
        "POST",
        "/v1/campaigns",
        manager,
        {
            "name": "Rentrée",
            "purpose": "newsletter",
            "subject_template": "Bonjour {{ last_name }}",
            "body_template": "Bonjour {{ last_name }}, à bientôt.",
            "audience": {"contact_ids": [contact_id]},
        },
    )
    assert created.status == 201, created.text
    campaign_id = created.json["id"]
    sent = mesh.api.call("POST", f"/v1/campaigns/{campaign_id}/send", manager)
    assert sent.status == 202, sent.text
    deadline = time.monotonic() + 60
    while True:
        campaign = mesh.api.call("GET", f"/v1/campaigns/{campaign_id}", manager).json
        if campaign["status"] == "done":
            break
        assert time.monotonic() < deadline, campaign
        time.sleep(0.1)
    assert campaign["outcome_counts"] == {"sent": 1}, campaign
    assert len(mesh.inbox.to(address)) == 1


def consent_rows(mesh: Mesh) -> int:
    with mesh.engines["consent"].connect() as connection:
        count = text("SELECT count(*) FROM consent_privacy_requests")
        return int(connection.execute(count).scalar_one())


def test_an_erasure_leaves_only_the_tombstone_in_every_database(mesh: Mesh) -> None:
    contact_id, address, name = person(mesh)
    mail_them(mesh, contact_id, address)
    assert mentions(mesh.engines["campaigns"], [contact_id])  # campaigns knows them now
    assert redis_mentions(mesh, [contact_id])
    opened = open_request(mesh, "erasure", contact_id)
    assert opened["status"] in ("open", "in_progress", "done")
    assert opened["contact_id"] == contact_id and opened["opened_by"] == "dpo@grouping"
    assert opened["deadline"] > opened["opened_at"]
    done = wait_status(mesh, opened["id"], "done", "failed")
    assert done["status"] == "done", done
    assert [s["part"] for s in done["steps"]] == ["suppression", "campaigns", "consent", "contacts"]
    assert {s["status"] for s in done["steps"]} == {"done"}
    assert "contact_id" not in done  # forgotten by consent too
    # The address went to the suppression list (as a keyed hash: never in clear).
    assert suppressed(mesh, address)
    with mesh.engines["consent"].connect() as connection:
        reasons = text("SELECT reason FROM consent_suppressions")
        assert "erased" in {r for (r,) in connection.execute(reasons)}

    assert mentions(mesh.engines["consent"], [contact_id, address, name]) == set()
    assert mentions(mesh.engines["campaigns"], [contact_id, address, name]) == set()
    assert redis_mentions(mesh, [contact_id, address, name]) == []
    assert mentions(mesh.engines["contacts"], [address, name]) == set()
    assert mentions(mesh.engines["contacts"], [contact_id]) <= TOMBSTONE_TABLES
    with mesh.engines["contacts"].connect() as connection:
        tombstone = text("SELECT count(*) FROM contact_tombstones WHERE id = :id")
        assert connection.execute(tombstone, {"id": contact_id}).scalar_one() == 1
    problem(mesh.api.call("GET", f"/v1/contacts/{contact_id}", editor(mesh)), 404)
    # The request is found again by the id the tombstone keeps; no log line names the person.
    listed = mesh.api.call("GET", f"/v1/privacy-requests?contact_id={contact_id}", dpo(mesh))
    assert [r["id"] for r in listed.json["requests"]] == [opened["id"]]
    logs = mesh.logs()
    assert address not in logs and name not in logs


def test_an_access_request_gathers_one_document_and_fetching_it_is_audited(mesh: Mesh) -> None:
    contact_id, address, name = person(mesh)
    mail_them(mesh, contact_id, address)
    opened = open_request(mesh, "access", contact_id)
    wait_status(mesh, opened["id"], "done")
    reply = mesh.api.call("GET", f"/v1/privacy-requests/{opened['id']}/export", dpo(mesh))
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    document = reply.json
    schema = json.loads((ROOT / "docs" / "privacy-export.schema.json").read_text())
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    assert document["format"] == "crm-mesh/privacy-export/v1"
    assert document["contact_id"] == contact_id
    values = {v["field"]: v["value"] for v in document["contacts"]["values"]}
    assert values["email"] == address and values["last_name"] == name
    assert [e["kind"] for e in document["consent"]["events"]] == ["granted"]
    held = document["campaigns"]
    assert held["contact_id"] == contact_id and held["merged_ids"] == []
    [delivery] = held["deliveries"]
    assert (delivery["campaign_name"], delivery["outcome"]) == ("Rentrée", "sent")
    assert delivery["rule"] == "consent:consent_given" and delivery["message_class"] == "marketing"
    [slot] = held["pressure"]  # the mail counts against the person's budget
    assert slot["campaign_id"] == delivery["campaign_id"]
    trail = mesh.api.call("GET", f"/v1/privacy-requests/{opened['id']}", dpo(mesh)).json["audit"]
    assert trail[0] == {"at": trail[0]["at"], "actor": "dpo@grouping", "action": "opened"}
    assert trail[-1]["action"] == "fetched" and trail[-1]["actor"] == "dpo@grouping"
    assert address not in json.dumps(trail) and name not in json.dumps(trail)


def test_a_bad_request_is_a_problem_and_writes_nothing(mesh: Mesh) -> None:
    contact_id, _, _ = person(mesh)
    before = consent_rows(mesh)
    body = {"kind": "erasure", "contact_id": contact_id}
    for token in (dpo(mesh, A), editor(mesh), mesh.keys.admin()):
        problem(mesh.api.call("POST", "/v1/privacy-requests", token, body), 403)
    unknown = {"kind": "erasure", "contact_id": str(uuid.uuid4())}
    problem(mesh.api.call("POST", "/v1/privacy-requests", dpo(mesh), unknown), 404)
    bad_kind = {"kind": "forget-me", "contact_id": contact_id}
    problem(mesh.api.call("POST", "/v1/privacy-requests", dpo(mesh), bad_kind), 400)
    refused = {
        "kind": "rectification",
        "contact_id": contact_id,
        "rectification": {"owner_component": A, "fields": {"no_such_field": "x"}},
    }
    problem(mesh.api.call("POST", "/v1/privacy-requests", dpo(mesh), refused), 400)
    assert consent_rows(mesh) == before
    problem(mesh.api.call("GET", f"/v1/privacy-requests/{uuid.uuid4()}", dpo(mesh)), 404)
    problem(mesh.api.call("GET", "/v1/privacy-requests", dpo(mesh, A)), 403)


def test_a_rectification_reaches_contacts(mesh: Mesh) -> None:
    contact_id, _, _ = person(mesh)
    body = {
        "kind": "rectification",
        "contact_id": contact_id,
        "rectification": {"owner_component": A, "fields": {"last_name": "Corrected"}},
    }
    reply = mesh.api.call("POST", "/v1/privacy-requests", dpo(mesh), body)
    assert reply.status == 202 and reply.json["status"] == "done", reply.text
    seen = mesh.api.call("GET", f"/v1/contacts/{contact_id}", editor(mesh))
    assert seen.json["fields"]["last_name"]["value"] == "Corrected"


def test_a_part_down_keeps_the_request_in_progress_until_it_is_back_even_over_restarts(
    mesh: Mesh,
) -> None:
    contact_id, _, _ = person(mesh)
    mesh.processes["campaigns"].stop()
    opened = open_request(mesh, "erasure", contact_id)
    waiting = _wait_step(mesh, opened["id"], "campaigns", min_attempts=2)
    assert waiting["status"] == "in_progress"
    assert [s["status"] for s in waiting["steps"]] == ["done", "pending", "pending", "pending"]
    assert waiting["steps"][1]["last_outcome"] == "UNAVAILABLE"

    # Contacts goes down too, consent restarts meanwhile, campaigns comes back.
    mesh.processes["contacts"].stop()
    mesh.processes["consent"].stop()
    mesh.processes["campaigns"].start()
    mesh.processes["consent"].start()
    # Nobody can sign in while contacts (the organisation tree) is down: read consent's rows.
    status, steps = _stored(mesh, opened["id"], "contacts", min_attempts=1)
    assert status == "in_progress"
    assert steps == [
        ("suppression", "done", "done"),
        ("campaigns", "done", "done"),
        ("consent", "done", "done"),
        ("contacts", "pending", "UNAVAILABLE"),
    ]

    mesh.processes["contacts"].start()
    done = wait_status(mesh, opened["id"], "done", "failed")
    assert done["status"] == "done", done
    problem(mesh.api.call("GET", f"/v1/contacts/{contact_id}", editor(mesh)), 404)


def _wait_step(
    mesh: Mesh, request_id: str, part: str, min_attempts: int, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = mesh.api.call("GET", f"/v1/privacy-requests/{request_id}", dpo(mesh))
        assert reply.status == 200, reply.text
        step = next(s for s in reply.json["steps"] if s["part"] == part)
        if step["attempts"] >= min_attempts:
            return dict(reply.json)
        assert time.monotonic() < deadline, reply.json
        time.sleep(0.1)


def _stored(
    mesh: Mesh, request_id: str, part: str, min_attempts: int, timeout: float = 60
) -> tuple[str, list[tuple[str, str, str]]]:
    """The request's status and (part, status, last outcome) of its steps, read from consent's
    database once `part` was attempted `min_attempts` times."""
    deadline = time.monotonic() + timeout
    with mesh.engines["consent"].connect() as connection:
        while True:
            attempts = connection.execute(
                text(
                    "SELECT attempts FROM consent_privacy_steps"
                    " WHERE request_id = :id AND part = :part"
                ),
                {"id": request_id, "part": part},
            ).scalar_one()
            connection.rollback()
            if attempts >= min_attempts:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status = connection.execute(
            text("SELECT status FROM consent_privacy_requests WHERE id = :id"), {"id": request_id}
        ).scalar_one()
        rows = connection.execute(
            text(
                "SELECT part, status, last_outcome FROM consent_privacy_steps"
                " WHERE request_id = :id ORDER BY position"
            ),
            {"id": request_id},
        ).all()
    return str(status), [(str(p), str(s), str(o)) for p, s, o in rows]
