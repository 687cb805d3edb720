"""A campaign names a purpose of consent's catalogue that is active and uses email, or it is
refused naming `purpose` with nothing written; consent away is a 503, nothing written.
Checked against the real consent process (its catalogue changed by an administrator)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from meshkit.db import Database
from meshkit.errors import InvalidArgument, Unavailable
from meshkit.grpc_client import open_channel
from meshkit.identity import Principal
from protos.crm.consent.v1 import consent_pb2
from services.campaigns.clients import GrpcDirectory, GrpcPurposeCatalogue
from services.campaigns.models import Campaign
from services.campaigns.service import CampaignsService
from services.campaigns.validation import Audience, AudienceKind, Draft
from tests.integration.campaigns.peers import TIMEOUT, CallLog, Peers
from tests.support.processes import free_port
from tests.support.tokens import TestKeys

SCIENCES = Principal("ana@sciences", component="sciences", roles=frozenset({"campaign_manager"}))


def draft(purpose: str) -> Draft:
    audience = Audience(AudienceKind.CONTACT_IDS, ("c1", "c2"))
    return Draft("News", purpose, "Hi {{ first_name }}", "Body", audience)


def campaign_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


def add_purpose(peers: Peers, channels: Sequence[int] = (consent_pb2.CHANNEL_EMAIL,)) -> str:
    """A new purpose of the catalogue, added by an administrator; its key."""
    key = f"p-{uuid.uuid4().hex[:10]}"
    purpose = consent_pb2.Purpose(
        key=key, label_fr="Essai", label_en="Trial", channels=list(channels), marketing=True
    )
    peers.consent.CreatePurpose(purpose, metadata=_admin(peers), timeout=TIMEOUT)
    return key


def change_purpose(peers: Peers, key: str, **change: object) -> None:
    request = consent_pb2.UpdatePurposeRequest(key=key, fields=sorted(change), **change)  # type: ignore[arg-type]
    peers.consent.UpdatePurpose(request, metadata=_admin(peers), timeout=TIMEOUT)


def _admin(peers: Peers) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {peers.keys.admin()}")]


@pytest.fixture
def service(
    db: Database,
    directory: tuple[GrpcDirectory, CallLog],
    purposes: tuple[GrpcPurposeCatalogue, CallLog],
) -> CampaignsService:
    return CampaignsService(db, directory[0], purposes[0])


def refused(service: CampaignsService, db: Database, purpose: str) -> str:
    """Creating a campaign on `purpose` is refused naming that field only; its description."""
    before = campaign_count(db)
    with pytest.raises(InvalidArgument) as error:
        service.create(SCIENCES, draft(purpose))
    [violation] = error.value.violations
    assert violation.field == "purpose"
    assert campaign_count(db) == before
    return violation.description


def test_a_catalogued_purpose_is_accepted_and_an_unknown_one_refused(
    service: CampaignsService, db: Database
) -> None:
    assert service.create(SCIENCES, draft("newsletter")).purpose == "newsletter"
    assert "catalogue" in refused(service, db, "no-such-purpose")


def test_an_inactive_purpose_or_one_without_email_is_refused(
    service: CampaignsService, db: Database, peers: Peers
) -> None:
    by_post = add_purpose(peers, channels=[consent_pb2.CHANNEL_POST])
    assert "email" in refused(service, db, by_post)
    retired = add_purpose(peers)
    assert service.create(SCIENCES, draft(retired)).purpose == retired
    change_purpose(peers, retired, active=False)
    channel = _channel_as_campaigns(peers)  # a campaigns process started after the change
    try:
        later = CampaignsService(db, service._directory, GrpcPurposeCatalogue(channel))  # noqa: SLF001
        assert "active" in refused(later, db, retired)
    finally:
        channel.close()


def test_a_purpose_just_added_is_found_and_the_catalogue_is_read_once_meanwhile(
    service: CampaignsService, peers: Peers, purposes: tuple[GrpcPurposeCatalogue, CallLog]
) -> None:
    _, calls = purposes
    service.create(SCIENCES, draft("newsletter"))
    service.create(SCIENCES, draft("events"))
    assert len(calls.named("ListPurposes")) == 1  # cached between the two
    added = add_purpose(peers)
    assert service.create(SCIENCES, draft(added)).purpose == added  # a miss reads it again
    assert len(calls.named("ListPurposes")) == 2
    [call] = calls.named("ListPurposes")[:1]
    assert call.request.include_inactive  # so an inactive purpose is named as such


def test_consent_away_is_unavailable_and_writes_nothing(
    db: Database, directory: tuple[GrpcDirectory, CallLog], keys: TestKeys
) -> None:
    identity = keys.identity("campaigns")
    nowhere = open_channel(f"127.0.0.1:{free_port()}", identity.token, 2.0)
    try:
        service = CampaignsService(db, directory[0], GrpcPurposeCatalogue(nowhere))
        before = campaign_count(db)
        with pytest.raises(Unavailable):
            service.create(SCIENCES, draft("newsletter"))
        assert campaign_count(db) == before
    finally:
        nowhere.close()


def test_a_cached_catalogue_too_old_is_not_trusted_when_consent_is_away(
    db: Database, directory: tuple[GrpcDirectory, CallLog], peers: Peers
) -> None:
    now = [0.0]
    cable = Cable()
    channel = grpc.intercept_channel(_channel_as_campaigns(peers), cable)
    catalogue = GrpcPurposeCatalogue(channel, ttl_seconds=5.0, clock=lambda: now[0])
    service = CampaignsService(db, directory[0], catalogue)
    service.create(SCIENCES, draft("newsletter"))
    cable.cut = True  # consent can no longer be asked
    now[0] = 4.0
    service.create(SCIENCES, draft("newsletter"))  # within the cache's life: still known
    now[0] = 6.0
    before = campaign_count(db)
    with pytest.raises(Unavailable):
        service.create(SCIENCES, draft("newsletter"))
    assert campaign_count(db) == before
    channel.close()


def _channel_as_campaigns(peers: Peers) -> grpc.Channel:
    identity = peers.keys.identity("campaigns")
    return open_channel(peers.consent_target, identity.token, 10.0)


class _Unreachable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


class Cable(grpc.UnaryUnaryClientInterceptor):
    """The network between campaigns and consent, which a test can cut."""

    def __init__(self) -> None:
        self.cut = False

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        if self.cut:
            raise _Unreachable()
        return continuation(details, request)
