"""Concurrent writes of one contact: an etag is spent by exactly one write.

Two writers that read the same version and write at once: the contact's row
lock orders them, the second finds its etag stale (ABORTED over gRPC, 412
through the gateway) and writes nothing; the stored value is the winner's.
Against the real contacts process on PostgreSQL, and a real gateway in front.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import ContactsServer
from tests.support.mesh import Api, Reply
from tests.support.processes import free_port, service_process, wait_http_healthy

ROUNDS = 5


def at_once(*writes: Callable[[], Any]) -> list[Any]:
    """Runs each write in its own thread, released together; their results or errors."""
    start = threading.Barrier(len(writes))
    results: list[Any] = [None] * len(writes)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = writes[index]()
        except BaseException as error:  # returned to the test, which decides
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def new_contact(server: ContactsServer, component: str = "sciences") -> pb.Contact:
    request = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON,
        fields={"email": f"{uuid.uuid4().hex[:12]}@example.org", "job_title": "Avant"},
    )
    return server.call("CreateContact", request, server.keys.manager(component)).contact


def stored(server: ContactsServer, contact_id: str, field: str, owner: str) -> list[str]:
    rows = server.sql(
        "SELECT value FROM contact_values WHERE contact_id = :id AND field = :field"
        " AND owner_component = :owner",
        id=contact_id,
        field=field,
        owner=owner,
    )
    return [value for (value,) in rows]


def changes(server: ContactsServer, contact_id: str) -> int:
    rows = server.sql(
        "SELECT count(*) FROM contact_changes WHERE contact_id = :id AND action = 'updated'",
        id=contact_id,
    )
    return int(rows[0][0])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_updates_with_one_etag_at_once_one_wins(server, components, round_):
    contact = new_contact(server)
    writers = [
        server.keys.manager("sciences", subject=f"{name}@sciences") for name in ("anne", "bruno")
    ]

    def update(token: str, title: str) -> Callable[[], pb.Contact]:
        request = pb.UpdateContactRequest(
            id=contact.id, etag=contact.etag, set={"job_title": title}
        )
        return lambda: server.call("UpdateContact", request, token)

    results = at_once(update(writers[0], "Anne"), update(writers[1], "Bruno"))
    won = [r for r in results if isinstance(r, pb.Contact)]
    lost = [r for r in results if isinstance(r, grpc.RpcError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].code() == grpc.StatusCode.ABORTED
    winner = won[0].fields["job_title"].value
    assert winner in ("Anne", "Bruno")
    assert stored(server, contact.id, "job_title", "sciences") == [winner]
    assert changes(server, contact.id) == 1  # the loser recorded nothing either
    fresh = server.call(
        "GetContact", pb.GetContactRequest(id=contact.id), server.keys.manager("sciences")
    )
    assert fresh.etag == won[0].etag != contact.etag


def test_a_change_another_component_cannot_see_does_not_spend_its_etag(server, components):
    """Etags follow each caller's view: A's owner-only change leaves B's etag valid."""
    contact = new_contact(server, "sciences")
    joined = server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON, fields={"email": contact.fields["email"].value}
        ),
        server.keys.manager("droit"),
    ).contact
    a_write = pb.UpdateContactRequest(id=contact.id, etag=contact.etag, set={"job_title": "A"})
    b_write = pb.UpdateContactRequest(id=contact.id, etag=joined.etag, set={"job_title": "B"})
    # A's etag was read before B joined: B's membership is part of A's view, so it is stale
    error = server.fails("UpdateContact", a_write, server.keys.manager("sciences"))
    assert error.code() == grpc.StatusCode.ABORTED
    a_etag = server.call(
        "GetContact", pb.GetContactRequest(id=contact.id), server.keys.manager("sciences")
    ).etag
    a_write.etag = a_etag
    results = at_once(
        lambda: server.call("UpdateContact", a_write, server.keys.manager("sciences")),
        lambda: server.call("UpdateContact", b_write, server.keys.manager("droit")),
    )
    assert all(isinstance(r, pb.Contact) for r in results), results
    assert stored(server, contact.id, "job_title", "sciences") == ["A"]
    assert stored(server, contact.id, "job_title", "droit") == ["B"]


# --- Through the gateway -----------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(server: ContactsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A real gateway process in front of this module's contacts process."""
    folder = tmp_path_factory.mktemp("gateway")
    port = free_port()
    env = {
        **server.keys.env("GATEWAY_"),
        "CRM_HOME": str(folder / "home"),
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "GATEWAY_CONTACTS_TARGET": server.target,
        "GATEWAY_CONSENT_TARGET": f"127.0.0.1:{free_port()}",  # not asked by these tests
        "GATEWAY_CAMPAIGNS_TARGET": f"127.0.0.1:{free_port()}",
        "GATEWAY_UNSUBSCRIBE_SECRET": "contacts-concurrency-secret",
        "GATEWAY_RPC_TIMEOUT_SECONDS": "10",
    }
    with service_process("gateway", env, folder / "logs"):
        base = f"http://127.0.0.1:{port}"
        wait_http_healthy(f"{base}/healthz", timeout=60)
        yield Api(base)


def patch(api: Api, token: str, contact_id: str, body: Any, etag: str | None) -> Reply:
    headers = {"If-Match": f'"{etag}"'} if etag is not None else {}
    return Api(api.base, headers).call("PATCH", f"/v1/contacts/{contact_id}", token, body)


def quoted(etag: str) -> str:
    return f'"{etag}"'


def etag_header(reply: Reply) -> str:
    """The ETag header, whatever case the server spelled its name in."""
    (value,) = [v for k, v in reply.headers.items() if k.lower() == "etag"]
    return value


def test_two_patches_with_one_etag_at_once_one_is_412(server, components, gateway):
    token = server.keys.manager("sciences")
    contact = new_contact(server)
    read = gateway.call("GET", f"/v1/contacts/{contact.id}", token)
    assert read.status == 200, read.text
    etag = etag_header(read).strip('"')
    assert read.json["etag"] == etag
    results = at_once(
        lambda: patch(gateway, token, contact.id, {"fields": {"job_title": "Un"}}, etag),
        lambda: patch(gateway, token, contact.id, {"fields": {"job_title": "Deux"}}, etag),
    )
    assert sorted(r.status for r in results) == [200, 412], [r.text for r in results]
    (won,) = [r for r in results if r.status == 200]
    (lost,) = [r for r in results if r.status == 412]
    assert lost.headers["Content-Type"].startswith("application/problem+json")
    winner = won.json["fields"]["job_title"]["value"]
    assert stored(server, contact.id, "job_title", "sciences") == [winner]
    assert etag_header(won) == quoted(won.json["etag"]) != quoted(etag)


def test_patch_without_if_match_is_428_and_with_a_stale_etag_412_nothing_written(
    server, components, gateway
):
    token = server.keys.manager("sciences")
    contact = new_contact(server)
    stale = contact.etag
    fresh = patch(gateway, token, contact.id, {"fields": {"job_title": "Maintenant"}}, stale)
    assert fresh.status == 200, fresh.text
    before = (server.counts(), changes(server, contact.id))
    body = {"fields": {"job_title": "Jamais", "phone": None}}

    missing = patch(gateway, token, contact.id, body, None)
    assert missing.status == 428, missing.text
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    assert missing.json["status"] == 428

    old = patch(gateway, token, contact.id, body, stale)
    assert old.status == 412, old.text
    assert old.json["status"] == 412
    assert "Jamais" not in old.text

    assert (server.counts(), changes(server, contact.id)) == before
    assert stored(server, contact.id, "job_title", "sciences") == ["Maintenant"]

    # the etag the gateway handed back does work, and null removes a value
    etag = etag_header(fresh).strip('"')
    body = {"fields": {"job_title": None}}
    cleared = patch(gateway, token, contact.id, body, etag)
    assert cleared.status == 200, cleared.text
    assert "job_title" not in cleared.json["fields"]
    assert stored(server, contact.id, "job_title", "sciences") == []
