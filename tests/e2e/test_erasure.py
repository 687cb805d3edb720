"""Erasure end to end: a person two components know, with consent events, a mail delivered and
a receipt, is erased by the grouping's DPO through the gateway. Afterwards no column of any
table of contacts, consent or campaigns, and no Redis key or value of the mesh, names their
address, names or id, except contacts' tombstone row (and the keyed hash of the suppression
list, which holds no address); the same address imported again is refused, and a campaign
to a new record with that address reaches nobody."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from sqlalchemy import create_engine, text

from tests.e2e.conftest import World
from tests.support.stores import REDIS_URL

# Where the bare contact id may stay, in contacts alone and in these columns only (never a
# value of the person: names and addresses are found nowhere). The tombstone, so the id
# answers "erased" rather than being free for reuse; the id-only history of the record
# (actions, field names, who and when, ending with the "erased" row itself) and the audit of
# who read a protected value when: the accountability the DPO answers for (GDPR Art. 5(2)).
ID_KEPT_FOR_ACCOUNTABILITY = {
    ("contact_tombstones", "id"),
    ("contact_changes", "contact_id"),
    ("sensitive_reads", "contact_id"),
}


def needles_of(*values: str) -> list[str]:
    """What to look for: each value as text, lower-cased, and as hex (a bytea cast to text)."""
    return [v.lower() for v in values] + [v.encode().hex() for v in values]


def database_mentions(url: str, needles: Sequence[str]) -> set[tuple[str, str]]:
    """(table, column) of every column of every table holding one of `needles` in some row."""
    engine = create_engine(url)
    found = set()
    try:
        with engine.connect() as connection:
            columns = connection.execute(
                text(
                    "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                    " JOIN information_schema.tables t USING (table_schema, table_name)"
                    " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
                )
            ).all()
            for table, column in columns:
                values = connection.execute(text(f'SELECT CAST("{column}" AS text) FROM "{table}"'))
                if any(v and any(n in v.lower() for n in needles) for (v,) in values):
                    found.add((str(table), str(column)))
    finally:
        engine.dispose()
    return found


def redis_mentions(prefix: str, needles: Sequence[str]) -> list[str]:
    """Keys under the mesh's prefix whose name, members, fields or values hold a needle."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    found = []
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            kind = client.type(key)
            if kind == "string":
                values = [client.get(key) or ""]
            elif kind == "zset":
                values = list(client.zrange(key, 0, -1))
            elif kind == "hash":
                values = [f"{k}={v}" for k, v in client.hgetall(key).items()]
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "list":
                values = list(client.lrange(key, 0, -1))
            else:
                values = [f"<{kind}>"]  # a type this test cannot read counts as unread: fail
                found.append(key)
            if any(n in v.lower() for v in [key, *values] for n in needles):
                found.append(key)
    finally:
        client.close()
    return found


def everything_mentioning(world: World, needles: Sequence[str]) -> dict[str, Any]:
    mesh = world.mesh
    held: dict[str, Any] = {
        name: database_mentions(url, needles) for name, url in mesh.database_urls.items()
    }
    held["redis"] = redis_mentions(mesh.redis_prefix, needles)
    return held


def grouping_dpo(world: World) -> str:
    return world.mesh.keys.issuer.mint("dpo@grouping", roles=["dpo"])


def wait_request(world: World, request_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = world.api.call("GET", f"/v1/privacy-requests/{request_id}", grouping_dpo(world))
        assert reply.status == 200, reply.text
        if reply.json["status"] in ("done", "failed"):
            return dict(reply.json)
        assert time.monotonic() < deadline, reply.json
        time.sleep(0.2)


def test_an_erased_person_leaves_no_trace_but_the_tombstone_and_stays_unreachable(
    world: World,
) -> None:
    tag = uuid.uuid4().hex[:10]
    address = f"Erase.Me.{tag}@Example.org"
    first, last, other_first = f"Prenom{tag}", f"Nom{tag}", f"Autre{tag}"
    # Known to two components, each with values of its own.
    contact = world.new_contact(world.a, email=address, first_name=first, last_name=last)
    joined = world.new_contact(world.b, email=address, first_name=other_first)
    contact_id = contact["id"]
    assert joined["id"] == contact_id

    # Consent events from both, a withdrawal among them, and a grant with its receipt.
    world.grant(world.a, contact_id)
    world.grant(world.b, contact_id, purpose="events")
    withdrawal = {"channel": "email", "purpose": "events", "scope": "component", "source": "tel"}
    withdrawn = world.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents/withdraw", world.b, withdrawal
    )
    assert withdrawn.status == 201, withdrawn.text
    history = world.api.call("GET", f"/v1/contacts/{contact_id}/consents", world.a).json
    grant_id = next(e["id"] for e in history["events"] if e["kind"] == "granted")
    receipt = world.api.call("GET", f"/v1/consent/receipts/{grant_id}", world.a)
    assert receipt.status == 200, receipt.text

    # A campaign mail delivered, read at the SMTP server.
    campaign = world.campaign(world.a, [contact_id])
    assert world.send_and_wait(world.a, campaign["id"])["outcome_counts"] == {"sent": 1}
    [mail] = world.mesh.inbox.to(address.lower()) or world.mesh.inbox.to(address)
    assert last in mail.get_body(("plain",)).get_content()

    values = needles_of(address, first, last, other_first)
    ids = needles_of(contact_id)
    before = everything_mentioning(world, values + ids)
    assert before["contacts"] and before["consent"] and before["campaigns"] and before["redis"]

    # The grouping's DPO opens the erasure through the gateway; consent's job drives it.
    opened = world.api.call(
        "POST",
        "/v1/privacy-requests",
        grouping_dpo(world),
        {"kind": "erasure", "contact_id": contact_id},
    )
    assert opened.status == 202, opened.text
    done = wait_request(world, opened.json["id"])
    assert done["status"] == "done", done
    assert {s["status"] for s in done["steps"]} == {"done"}

    nothing = {"contacts": set(), "consent": set(), "campaigns": set(), "redis": []}
    assert everything_mentioning(world, values) == nothing  # no address, no name, anywhere
    id_left = everything_mentioning(world, ids)
    assert id_left == nothing | {"contacts": id_left["contacts"]}, id_left
    assert ("contact_tombstones", "id") in id_left["contacts"]
    assert id_left["contacts"] <= ID_KEPT_FOR_ACCOUNTABILITY, id_left

    # Nothing left to read: the contact, its consent and its receipt are gone.
    assert world.api.call("GET", f"/v1/contacts/{contact_id}", world.a).status == 404
    assert world.api.call("GET", f"/v1/consent/receipts/{grant_id}", world.a).status == 404

    # The same address imported again (in any case) is refused by the suppression list.
    csv = f"email;first_name\r\n{address};{first}\r\n{address.upper()};{first}\r\n".encode()
    imported = world.api.call(
        "POST",
        "/v1/contacts/imports?kind=person",
        world.a,
        raw=csv,
        content_type="text/csv",
    )
    assert imported.status == 200, imported.text
    assert [r["outcome"] for r in imported.json["rows"]] == ["rejected", "rejected"]
    assert {p["column"] for r in imported.json["rows"] for p in r["problems"]} == {"email"}
    assert address.lower() not in imported.text.lower()

    # A new record made by hand with that address: a campaign to it reaches nobody.
    again = world.new_contact(world.b, email=address, first_name=other_first)
    assert again["id"] != contact_id
    world.grant(world.b, again["id"])
    mails_before = world.mesh.inbox.count()
    retry = world.campaign(world.b, [again["id"]])
    finished = world.send_and_wait(world.b, retry["id"])
    assert finished["outcome_counts"] == {"withdrawn": 1}, finished
    deliveries = world.api.call("GET", f"/v1/campaigns/{retry['id']}/deliveries", world.b).json
    assert [d["rule"] for d in deliveries["deliveries"]] == ["consent:suppressed"]
    assert world.mesh.inbox.count() == mails_before
    assert world.mesh.inbox.to(address.lower()) == [mail] or world.mesh.inbox.to(address) == [mail]
