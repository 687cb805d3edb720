"""The interaction history through a real `crm serve campaigns`, with real contacts and consent.

"Who contacted this person this month?": the ledger's mailings and the
recorded interactions, newest first; every member component sees every entry,
the subject and content only the component that made it; any other component
is told the contact does not exist. Then the use case in-process: the hook the
pressure counters hang on, and what their rebuild reads back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import create_engine, func, select

from meshkit.db import Database
from meshkit.errors import InvalidArgument
from meshkit.identity import Principal
from protos.crm.campaigns.v1 import campaigns_pb2 as cpb
from protos.crm.campaigns.v1 import campaigns_pb2_grpc, interactions_pb2_grpc
from protos.crm.campaigns.v1 import interactions_pb2 as pb
from services.campaigns.clients import GrpcDirectory
from services.campaigns.interactions import Interactions
from services.campaigns.interactions_policy import NewInteraction
from services.campaigns.merges import ContactMerges
from services.campaigns.models import InteractionRow
from services.campaigns.pressure_policy import Counted, Message
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import CallLog, Peers, Sink, campaigns_process
from tests.integration.campaigns.test_process import consenting_person, violations, wait_status
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys

A, B, C = "sciences", "lettres", "ix-droit"  # C is never a member of anyone here
MARKER = "MARKER-7d1c"

Running = tuple[grpc.Channel, TestKeys, Peers, Sink]


class Caller:
    """The campaigns and interactions stubs with one caller's token."""

    def __init__(self, channel: grpc.Channel, token: str):
        self._stubs = (
            interactions_pb2_grpc.InteractionsServiceStub(channel),
            campaigns_pb2_grpc.CampaignsServiceStub(channel),
        )
        self._metadata = [("authorization", f"Bearer {token}")]

    def __getattr__(self, name: str) -> Any:
        stub = next(s for s in self._stubs if hasattr(s, name))
        method = getattr(stub, name)
        return lambda request: method(request, metadata=self._metadata, timeout=10)


@pytest.fixture(scope="module")
def running(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[Running]:
    try:
        peers.add_component(C)
    except grpc.RpcError as error:  # registered by an earlier module of this session
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    workdir: Path = tmp_path_factory.mktemp("campaigns-interactions")
    prefix = redis_prefix()
    with campaigns_process(workdir, keys, pg_url, peers, prefix) as (channel, sink, _log):
        yield channel, keys, peers, sink
    delete_keys(redis_client, prefix)


def caller(running: Running, component: str | None = None, **kind: Any) -> Caller:
    channel, keys, *_ = running
    if kind.get("token"):
        return Caller(channel, kind["token"])
    assert component is not None
    return Caller(channel, keys.manager(component))


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def phone_call(contact_id: str, **fields: Any) -> pb.RecordInteractionRequest:
    request = pb.RecordInteractionRequest(contact_id=contact_id, channel="phone", purpose="alumni")
    for name, value in fields.items():
        if isinstance(value, datetime):
            getattr(request, name).CopyFrom(stamp(value))
        else:
            setattr(request, name, value)
    return request


def history(who: Caller, contact_id: str, **fields: Any) -> list[pb.InteractionEntry]:
    """Every page of the contact's history as `who` reads it."""
    entries: list[pb.InteractionEntry] = []
    token = ""
    while True:
        request = pb.ListInteractionsRequest(contact_id=contact_id, page_token=token)
        for name, value in fields.items():
            if isinstance(value, datetime):
                getattr(request, name).CopyFrom(stamp(value))
            else:
                setattr(request, name, value)
        reply = who.ListInteractions(request)
        entries += reply.entries
        token = reply.next_page_token
        if not token:
            return entries


def refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    return raised.value


def rows(pg_url: str, contact_ids: list[str] | None = None) -> int:
    engine = create_engine(pg_url)
    query = select(func.count()).select_from(InteractionRow)
    if contact_ids is not None:
        query = query.where(InteractionRow.contact_id.in_(contact_ids))
    with engine.connect() as connection:
        count = int(connection.execute(query).scalar_one())
    engine.dispose()
    return count


def sent_campaign(a: Caller, contact_ids: list[str], subject: str, name: str) -> cpb.Campaign:
    campaign = a.CreateCampaign(
        cpb.CreateCampaignRequest(
            name=name,
            purpose="newsletter",
            subject_template=subject,
            body_template="Texte",
            audience=cpb.Audience(contact_ids=cpb.ContactIds(ids=contact_ids)),
        )
    )
    a.SendNow(cpb.SendNowRequest(id=campaign.id))
    done = wait_status(a, campaign.id, cpb.CAMPAIGN_STATUS_DONE)  # type: ignore[arg-type]
    assert dict(done.outcome_counts) == {"sent": len(contact_ids)}
    return done


# --- Who sees what --------------------------------------------------------------------------


def test_members_see_every_entry_and_only_its_author_the_subject_and_content(
    running: Running,
) -> None:
    _, keys, peers, sink = running
    a, b, c = caller(running, A), caller(running, B), caller(running, C)
    ada, address = consenting_person(peers, "Ada")
    assert peers.join(B, address) == ada  # lettres is a member too; droit is not
    campaign = sent_campaign(a, [ada], f"{MARKER} mail {{{{ first_name }}}}", "Rentrée")
    assert len(sink.to(address)) == 1
    call = a.RecordInteraction(
        phone_call(ada, subject=f"{MARKER} call", content=f"{MARKER} notes of the call")
    ).interaction
    assert (call.component, call.source, call.recorded_by) == (A, "staff", "manager@sciences")
    meeting = b.RecordInteraction(
        pb.RecordInteractionRequest(contact_id=ada, channel="meeting", content=f"{MARKER} B")
    ).interaction

    # B, a member, sees A's mailing and A's call, without a word of their subject or content.
    seen_by_b = b.ListInteractions(pb.ListInteractionsRequest(contact_id=ada))
    by_id = {e.id: e for e in seen_by_b.entries}
    assert [e.kind for e in seen_by_b.entries] == ["interaction", "interaction", "mailing"]
    mail = seen_by_b.entries[2]
    assert (mail.component, mail.channel, mail.purpose) == (A, "email", "newsletter")
    assert (mail.campaign_id, mail.campaign_name, mail.outcome) == (campaign.id, "Rentrée", "sent")
    assert mail.content_hidden and by_id[call.id].content_hidden
    assert (by_id[call.id].component, by_id[call.id].channel) == (A, "phone")
    assert by_id[call.id].recorded_by == ""
    assert MARKER not in str(mail) + str(by_id[call.id])
    assert MARKER.encode() in by_id[meeting.id].SerializeToString()  # B's own
    assert not by_id[meeting.id].content_hidden

    # A sees its own subject and content, and not B's.
    seen_by_a = {
        e.id: e for e in a.ListInteractions(pb.ListInteractionsRequest(contact_id=ada)).entries
    }
    assert seen_by_a[mail.id].subject.startswith(f"{MARKER} mail")
    assert seen_by_a[call.id].content == f"{MARKER} notes of the call"
    assert seen_by_a[call.id].recorded_by == "manager@sciences"
    assert seen_by_a[meeting.id].content_hidden and MARKER not in str(seen_by_a[meeting.id])
    # Newest first: the meeting was recorded last.
    assert [e.id for e in seen_by_b.entries][0] == meeting.id

    # C, not a member, is told what it would be told for no contact at all.
    unknown = refused(c.ListInteractions, pb.ListInteractionsRequest(contact_id=str(uuid.uuid4())))
    hidden = refused(c.ListInteractions, pb.ListInteractionsRequest(contact_id=ada))
    assert hidden.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
    assert hidden.details() == unknown.details()
    assert MARKER not in (hidden.details() or "")
    # Nor may it record for the contact; nothing is written.
    before = history(a, ada)
    assert refused(c.RecordInteraction, phone_call(ada)).code() == grpc.StatusCode.NOT_FOUND
    assert history(a, ada) == before

    # Administrators, services and the grouping's DPO read everything.
    for token in (
        keys.admin(),
        keys.service("gateway"),
        keys.issuer.mint("dpo@grouping", roles=["dpo"]),
    ):
        full = {e.id: e for e in history(caller(running, token=token), ada)}
        assert full[call.id].content == f"{MARKER} notes of the call"
        assert full[meeting.id].content == f"{MARKER} B" and not full[mail.id].content_hidden


def test_a_mesh_service_records_for_the_member_component_it_names(running: Running) -> None:
    _, keys, peers, _ = running
    service = caller(running, token=keys.service("events"))
    person, _ = consenting_person(peers, "Eve")
    missing = refused(service.RecordInteraction, phone_call(person))
    assert set(violations(missing)) == {"component_id"}
    recorded = service.RecordInteraction(
        phone_call(person, channel="event", component_id=A, subject="Gala")
    ).interaction
    assert (recorded.component, recorded.source, recorded.recorded_by) == (
        A,
        "service:events",
        "service:events",
    )
    not_member = refused(service.RecordInteraction, phone_call(person, component_id=B))
    assert not_member.code() == grpc.StatusCode.NOT_FOUND
    assert [e.id for e in history(caller(running, A), person)] == [recorded.id]


# --- Bad input, roles, idempotency ------------------------------------------------------------


def test_bad_input_gets_field_violations_and_writes_nothing(running: Running, pg_url: str) -> None:
    _, keys, peers, _ = running
    a = caller(running, A)
    person, _ = consenting_person(peers, "Bad")
    before = rows(pg_url)
    error = refused(
        a.RecordInteraction,
        phone_call(
            person,
            channel="fax",
            purpose="Not A Key",
            subject="two\nlines",
            idempotency_key="with space",
            occurred_at=datetime.now(UTC) + timedelta(days=2),
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {
        "channel",
        "purpose",
        "subject",
        "idempotency_key",
        "occurred_at",
    }
    viewer = caller(running, token=keys.issuer.mint("v@sciences", component=A, roles=["viewer"]))
    no_role = refused(viewer.RecordInteraction, phone_call(person))
    assert no_role.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "contact_editor" in (no_role.details() or "")
    other = refused(a.RecordInteraction, phone_call(person, component_id=B))
    assert other.code() == grpc.StatusCode.PERMISSION_DENIED
    bad_page = refused(
        a.ListInteractions, pb.ListInteractionsRequest(contact_id=person, page_token="nope")
    )
    assert set(violations(bad_page)) == {"page_token"}
    period = pb.ListInteractionsRequest(
        contact_id=person,
        since=stamp(datetime(2025, 2, 1, tzinfo=UTC)),
        until=stamp(datetime(2025, 1, 1, tzinfo=UTC)),
    )
    assert set(violations(refused(a.ListInteractions, period))) == {"until"}
    assert rows(pg_url) == before


def test_an_idempotency_key_repeat_returns_the_first_record_and_writes_nothing(
    running: Running, pg_url: str
) -> None:
    _, _, peers, _ = running
    a, b = caller(running, A), caller(running, B)
    person, address = consenting_person(peers, "Key")
    peers.join(B, address)
    when = datetime(2025, 1, 10, 9, 30, tzinfo=UTC)
    request = phone_call(person, idempotency_key="call-2025-01-10", occurred_at=when, content="n")
    first = a.RecordInteraction(request)
    assert not first.replayed
    count = rows(pg_url)
    again = a.RecordInteraction(request)
    assert again.replayed and again.interaction == first.interaction
    # Without its time, a repeat is still the same interaction.
    request.ClearField("occurred_at")
    assert a.RecordInteraction(request).interaction.id == first.interaction.id
    assert rows(pg_url) == count
    changed = phone_call(person, idempotency_key="call-2025-01-10", content=MARKER)
    conflict = refused(a.RecordInteraction, changed)
    assert conflict.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert MARKER not in (conflict.details() or "")
    assert rows(pg_url) == count
    # Keys are each component's own: B's same key is B's own record.
    theirs = b.RecordInteraction(phone_call(person, idempotency_key="call-2025-01-10"))
    assert not theirs.replayed and theirs.interaction.id != first.interaction.id
    assert rows(pg_url) == count + 1


# --- "This month", pages, merged ids ------------------------------------------------------------


def test_this_month_pages_are_complete_ordered_and_include_merged_ids(running: Running) -> None:
    _, keys, peers, _ = running
    a = caller(running, A)
    bob, _ = consenting_person(peers, "Bob")
    old, _ = consenting_person(peers, "Old")  # a second record of Bob, merged into his below
    march = datetime(2025, 3, 1, tzinfo=UTC)
    april = datetime(2025, 4, 1, tzinfo=UTC)
    same_instant = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
    dated = {
        "february": (bob, datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)),
        "first": (bob, march),
        "tied-1": (bob, same_instant),
        "tied-2": (old, same_instant),
        "tied-3": (bob, same_instant),
        "old-1": (old, datetime(2025, 3, 5, tzinfo=UTC)),
        "old-2": (old, datetime(2025, 3, 20, tzinfo=UTC)),
        "late": (bob, datetime(2025, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        "april": (bob, april),
    }
    ids = {
        label: a.RecordInteraction(
            phone_call(person, occurred_at=when, subject=label)
        ).interaction.id
        for label, (person, when) in dated.items()
    }
    sent = sent_campaign(a, [bob], "Nouvelles", "Avril")  # sent now: not in March
    service = caller(running, token=keys.service("gateway"))
    service.MergeContacts(cpb.MergeContactsRequest(survivor_id=bob, merged_id=old))

    in_march = {label for label, (_, when) in dated.items() if march <= when < april}
    # Newest first; at one instant, the higher id first (the order pages are cut in).
    expected = [
        ids[label]
        for label in sorted(in_march, key=lambda label: (dated[label][1], ids[label]), reverse=True)
    ]
    for size in (1, 2, 3, 500):
        assert [e.id for e in history(a, bob, since=march, until=april, page_size=size)] == expected
    month = history(a, bob, since=march, until=april, page_size=2)
    assert {e.subject for e in month} == in_march
    assert {e.contact_id for e in month} == {bob, old}  # the merged record's calls are there
    times = [e.occurred_at.ToDatetime(tzinfo=UTC) for e in month]
    assert times == sorted(times, reverse=True)

    everything = history(a, bob, page_size=4)
    assert {e.id for e in everything} == set(ids.values()) | {
        e.id for e in everything if e.campaign_id == sent.id
    }
    assert sum(e.kind == "mailing" for e in everything) == 1
    # The merged id reads its survivor's history.
    assert [e.id for e in history(a, old, page_size=4)] == [e.id for e in everything]


# --- Privacy requests ----------------------------------------------------------------------------


def test_export_includes_interactions_and_erasure_removes_them(
    running: Running, pg_url: str
) -> None:
    _, keys, peers, _ = running
    a = caller(running, A)
    service = caller(running, token=keys.service("consent"))
    carol, _ = consenting_person(peers, "Carol")
    dan, _ = consenting_person(peers, "Dan")  # someone else, who keeps his
    recorded = a.RecordInteraction(
        phone_call(carol, subject="Appel", content=f"{MARKER} carol", idempotency_key="k-carol")
    ).interaction
    a.RecordInteraction(phone_call(dan, content="dan"))

    export = service.ExportContact(cpb.ExportContactRequest(contact_id=carol))
    [exported] = export.interactions
    assert (exported.id, exported.contact_id, exported.component) == (
        recorded.id.removeprefix("i:"),
        carol,
        A,
    )
    assert (exported.channel, exported.purpose, exported.subject) == ("phone", "alumni", "Appel")
    assert exported.content == f"{MARKER} carol" and exported.idempotency_key == "k-carol"
    assert exported.recorded_by == "manager@sciences" and exported.source == "staff"

    service.EraseContact(cpb.EraseContactRequest(contact_id=carol))
    assert rows(pg_url, [carol]) == 0 and rows(pg_url, [dan]) == 1
    assert (
        list(service.ExportContact(cpb.ExportContactRequest(contact_id=carol)).interactions) == []
    )


# --- In process: the pressure hook and the rebuild's reader -------------------------------------


@pytest.fixture
def directory_only(directory: tuple[GrpcDirectory, CallLog]) -> GrpcDirectory:
    return directory[0]


def test_the_hook_hears_each_new_interaction_once_after_it_is_committed(
    db: Database, pg_url: str, directory_only: GrpcDirectory, peers: Peers, running: Running
) -> None:
    heard: list[tuple[str, Message, datetime, int]] = []

    def on_recorded(contact_id: str, key: str, message: Message, at: datetime) -> None:
        # Committed already: another connection finds the row.
        assert key.startswith("i:")
        heard.append((contact_id, message, at, rows(pg_url, [contact_id])))

    interactions = Interactions(db, directory_only, on_recorded=on_recorded)
    staff = Principal("ana@sciences", component=A, roles=frozenset({"contact_editor"}))
    person, _ = consenting_person(peers, "Hook")
    when = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    new = NewInteraction(person, "sms", purpose="alumni", occurred_at=when, idempotency_key="h-1")
    first = interactions.record(staff, new)
    assert heard == [(person, Message(A, "alumni", "sms"), when, 1)]
    assert interactions.record(staff, new).replayed  # a repeat is not a new message
    with pytest.raises(InvalidArgument):
        interactions.record(staff, NewInteraction(person, "fax"))
    assert len(heard) == 1

    def failing(_contact_id: str, _key: str, _message: Message, _at: datetime) -> None:
        raise ConnectionError("redis away")

    flaky = Interactions(db, directory_only, on_recorded=failing)
    kept = flaky.record(staff, NewInteraction(person, "meeting", occurred_at=when))
    assert {e.id for e in interactions.history(staff, person, None, None, 0, "").entries} == {
        first.entry.id,
        kept.entry.id,
    }


def test_the_rebuild_reads_interactions_back_with_merged_ids_under_their_survivor(
    db: Database, directory_only: GrpcDirectory, peers: Peers, running: Running
) -> None:
    interactions = Interactions(db, directory_only)
    staff = Principal("ana@sciences", component=A, roles=frozenset({"contact_editor"}))
    survivor, _ = consenting_person(peers, "Sur")
    merged, _ = consenting_person(peers, "Mer")
    since = datetime(2025, 3, 1, tzinfo=UTC)
    early = interactions.record(
        staff, NewInteraction(survivor, "phone", occurred_at=since - timedelta(microseconds=1))
    )
    mine = interactions.record(staff, NewInteraction(survivor, "phone", occurred_at=since))
    theirs = interactions.record(
        staff,
        NewInteraction(merged, "event", purpose="gala", occurred_at=since + timedelta(days=1)),
    )
    service = Principal("service:contacts", roles=frozenset({"service"}))
    ContactMerges(db, None).merge(service, survivor, merged)

    counted = interactions.counted_since([survivor], since)
    assert counted == [
        Counted(survivor, mine.entry.id, Message(A, "", "phone"), since),
        Counted(survivor, theirs.entry.id, Message(A, "gala", "event"), since + timedelta(days=1)),
    ]
    assert early.entry.id not in {c.key for c in counted}
    assert all(c.key.startswith("i:") for c in counted)
    assert interactions.counted_since([], since) == []
