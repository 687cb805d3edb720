"""ExportContact and EraseContact through a real `crm serve campaigns`: after erasure, no row
of the campaigns database and no Redis key names the person, and campaign counts stay right."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import create_engine, text

from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import Peers, Sink, campaigns_process
from tests.integration.campaigns.test_process import (
    Client,
    consenting_person,
    new_campaign,
    wait_status,
)
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys

Running = tuple[grpc.Channel, TestKeys, Peers, Sink, str]


@pytest.fixture(scope="module")
def running(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[Running]:
    workdir: Path = tmp_path_factory.mktemp("campaigns-privacy")
    prefix = redis_prefix()
    with campaigns_process(workdir, keys, pg_url, peers, prefix) as (channel, sink, _log):
        yield channel, keys, peers, sink, prefix
    delete_keys(redis_client, prefix)


def mentions(pg_url: str, needles: list[str]) -> list[str]:
    """`table.column` of every value in the campaigns database containing one of `needles`."""
    engine = create_engine(pg_url)
    found: list[str] = []
    with engine.connect() as connection:
        columns = connection.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' ORDER BY table_name, column_name"
            )
        ).all()
        assert len(columns) > 20  # the whole schema, not an empty database
        for table, column in columns:
            for needle in needles:
                hits = connection.execute(
                    text(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE :p'),
                    {"p": f"%{needle}%"},
                ).scalar_one()
                if hits:
                    found.append(f"{table}.{column}")
    engine.dispose()
    return found


def attributed_responses(pg_url: str, rows: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """Stores withdrawals and objections as the pressure rollup does once it has attributed
    them to the last marketing mail (consent's event feed is not part of this test)."""
    engine = create_engine(pg_url)
    stored = []
    with engine.begin() as connection:
        first = connection.execute(
            text("SELECT coalesce(max(event_id), 0) FROM campaigns_pressure_responses")
        ).scalar_one()
        for offset, (contact_id, kind) in enumerate(rows, start=1):
            event_id = first + offset
            connection.execute(
                text(
                    "INSERT INTO campaigns_pressure_responses"
                    " (event_id, contact_id, kind, at, month, component, purpose)"
                    " VALUES (:e, :c, :k, now() + make_interval(secs => :e), to_char(now(),"
                    " 'YYYY-MM'), 'sciences', 'newsletter')"
                ),
                {"e": event_id, "c": contact_id, "k": kind},
            )
            stored.append((event_id, contact_id, kind))
    engine.dispose()
    return stored


def redis_mentions(redis_client: Any, prefix: str, needles: list[str]) -> list[str]:
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    found = [k for k in keys if any(n in k for n in needles)]
    for key in keys:
        if redis_client.type(key) == "zset":
            members = redis_client.zrange(key, 0, -1)
            found += [f"{key}:{m}" for m in members if any(n in m for n in needles)]
    return found


def test_export_then_erasure_leaves_nothing_naming_the_person(
    running: Running, pg_url: str, redis_client: Any
) -> None:
    channel, keys, peers, sink, prefix = running
    service = Client(channel, keys.service("consent"))
    manager = Client(channel, keys.manager("sciences"))
    ada, ada_address = consenting_person(peers, "Ada")
    old, old_address = consenting_person(peers, "Old")  # a second record, merged into Ada's
    bob, _ = consenting_person(peers, "Bob")  # someone else, who must keep everything

    sent = new_campaign(manager, [old, bob])
    manager.SendNow(pb.SendNowRequest(id=sent.id))
    assert wait_status(manager, sent.id, pb.CAMPAIGN_STATUS_DONE).outcome_counts == {"sent": 2}
    service.MergeContacts(pb.MergeContactsRequest(survivor_id=ada, merged_id=old))
    later = new_campaign(manager, [ada, bob], name="Later")
    manager.SendNow(pb.SendNowRequest(id=later.id))
    assert wait_status(manager, later.id, pb.CAMPAIGN_STATUS_DONE).outcome_counts == {"sent": 2}
    draft = new_campaign(manager, [ada, bob, "someone-else"], name="Draft")
    key = f"confirm-{ada}"  # a caller's key that quotes the contact id
    confirmation = service.SendTransactional(
        pb.SendTransactionalRequest(
            idempotency_key=key,
            contact_id=ada,
            component_id="sciences",
            kind="consent_confirmation",
            subject="Confirmez",
            text_body="Lien",
        )
    )
    assert confirmation.outcome == "sent"
    assert len(sink.to(ada_address)) == 2 and len(sink.to(old_address)) == 1

    # Withdrawals consent reported, as the pressure rollup stores them once attributed.
    responses = attributed_responses(pg_url, [(old, "withdrawal"), (ada, "objection")])
    bob_response = attributed_responses(pg_url, [(bob, "withdrawal")])

    export = service.ExportContact(pb.ExportContactRequest(contact_id=ada))
    assert list(export.merged_ids) == [old]
    assert [(r.event_id, r.contact_id, r.kind) for r in export.responses] == responses
    assert {(r.attributed_component, r.attributed_purpose) for r in export.responses} == {
        ("sciences", "newsletter")
    }
    exported = sorted((d.contact_id, d.message_class, d.campaign_name) for d in export.deliveries)
    assert exported == sorted(
        [(ada, "marketing", "Later"), (ada, "transactional", ""), (old, "marketing", "News")]
    )
    transactional = next(d for d in export.deliveries if d.message_class == "transactional")
    assert (transactional.kind, transactional.sender) == ("consent_confirmation", "service:consent")
    assert {s.campaign_id for s in export.pressure} <= {sent.id, later.id}
    assert export.pressure  # Ada's slots in the current window
    assert mentions(pg_url, [ada, old])  # the test can see them before erasure

    counts_before = {
        c: manager.GetCampaign(pb.GetCampaignRequest(id=c)).outcome_counts
        for c in (sent.id, later.id)
    }
    erased = service.EraseContact(pb.EraseContactRequest(contact_id=ada))
    assert erased.deliveries_anonymised == 3
    assert erased.audiences_changed == 3  # News (Old), Later and Draft (Ada)
    assert erased.aliases_removed == 1
    assert erased.pressure_keys_dropped >= 1

    assert mentions(pg_url, [ada, old, ada_address, old_address]) == []
    assert redis_mentions(redis_client, prefix, [ada, old]) == []
    for campaign_id, counts in counts_before.items():
        assert manager.GetCampaign(pb.GetCampaignRequest(id=campaign_id)).outcome_counts == counts
    audience = manager.GetCampaign(pb.GetCampaignRequest(id=draft.id)).audience.contact_ids.ids
    assert list(audience) == [bob, "someone-else"]
    # Bob keeps his rows and his pressure slots.
    bob_export = service.ExportContact(pb.ExportContactRequest(contact_id=bob))
    assert len(bob_export.deliveries) == 2 and bob_export.pressure
    assert [(r.event_id, r.contact_id, r.kind) for r in bob_export.responses] == bob_response

    again = service.EraseContact(pb.EraseContactRequest(contact_id=ada))
    assert (again.deliveries_anonymised, again.audiences_changed, again.aliases_removed) == (
        0,
        0,
        0,
    )
    after = service.ExportContact(pb.ExportContactRequest(contact_id=ada))
    assert (list(after.deliveries), list(after.merged_ids), list(after.pressure)) == ([], [], [])
    assert list(after.responses) == []


def test_only_services_export_or_erase(running: Running) -> None:
    channel, keys, *_ = running
    for token in (
        keys.manager("sciences"),
        keys.issuer.mint("dpo@grouping", roles=["dpo"]),
        keys.admin(),
    ):
        client = Client(channel, token)
        for call in (
            lambda: client.ExportContact(pb.ExportContactRequest(contact_id="x")),  # noqa: B023
            lambda: client.EraseContact(pb.EraseContactRequest(contact_id="x")),  # noqa: B023
        ):
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_missing_contact_id_is_invalid(running: Running) -> None:
    channel, keys, *_ = running
    service = Client(channel, keys.service("consent"))
    with pytest.raises(grpc.RpcError) as raised:
        service.EraseContact(pb.EraseContactRequest(contact_id=""))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
