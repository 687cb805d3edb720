"""The preference page's port to the mesh: every gRPC call it makes, as the gateway itself.

The page is public (a signed link, no token), so it reads and records with the
gateway's own service identity: the purposes catalogue, the notices and the
person's state from consent, the campaign of the link from campaigns (its
owner component), component names from contacts. Failed calls come back as
domain errors (NotFound, Unavailable, ...), never as gRPC errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from meshkit.grpc_client import domain_error
from meshkit.links import PersonLink
from protos.crm.campaigns.v1 import campaigns_pb2
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway.clients import Clients
from services.gateway.inputs import Requester
from services.gateway.preference_form import (
    GROUPING,
    Changes,
    Choice,
    Offer,
    changes,
    in_recording_order,
    menu,
    subscriptions,
)
from services.gateway.preference_pages import Language, PreferencesView, PurposeInfo
from services.gateway.schemas import PreferencesForm

log = logging.getLogger(__name__)

SOURCE = "preference-page"
ALL_AT_ONCE = 1000  # the largest page the catalogue lists serve: one call in practice
# What a box stands for: the person's consent, or a legitimate interest they may refuse.
_WITHDRAWABLE = (consent_pb2.LEGAL_BASIS_CONSENT, consent_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST)


@contextmanager
def _upstream() -> Iterator[None]:
    """gRPC failures as the domain errors the services raised."""
    try:
        yield
    except grpc.RpcError as error:
        raise domain_error(error) from None


class PreferenceStore:
    """Reads a person's preferences and records what they change, through the mesh."""

    def __init__(self, clients: Clients):
        self._consent = clients.consent_as_gateway
        self._campaigns = clients.campaigns_as_gateway
        self._contacts = clients.contacts_as_gateway

    def view(self, link: PersonLink, lang: Language) -> PreferencesView:
        """What the page shows the person the link names, in `lang`."""
        with _upstream():
            purposes = self._purposes()
            notices = self._notices(purposes, lang)
            state = self._consent.GetState(consent_pb2.GetStateRequest(contact_id=link.contact_id))
            names = self._component_names()
        infos = tuple(
            PurposeInfo(p.key, {"fr": p.label_fr, "en": p.label_en}, *notices[p.key])
            for p in purposes
        )
        offers = [
            Offer(p.key, _channels(p.channels), notices[p.key][1] is not None) for p in purposes
        ]
        components = _components(state.entries, self._campaign_owner(link.ref))
        subscribed = subscriptions(_reachable(state.entries), components, offers)
        boxes = menu(offers, components, subscribed)
        objected = any(e.decision == consent_pb2.DECISION_OBJECTED for e in state.entries)
        return PreferencesView(
            purposes=infos,
            scope_names=names,
            offered=boxes.offered,
            subscribed=subscribed,
            objected=objected,
            unavailable=frozenset(boxes.unavailable),
        )

    def save(
        self,
        link: PersonLink,
        lang: Language,
        form: PreferencesForm,
        person: Requester,
    ) -> Changes:
        """Records the grants and withdrawals that make the state what the form ticked."""
        current = self.view(link, lang)
        asked = changes(current.offered, current.subscribed, form.keep, form.shown)
        notice_of = {p.key: p.notice_id or "" for p in current.purposes}
        granted = set(asked.grants)
        to_record = []
        for choice in in_recording_order([*asked.grants, *asked.withdrawals]):
            change = _change(link.contact_id, choice, person)
            action = consent_pb2.ACTION_WITHDRAW
            if choice in granted:
                change.notice_id = notice_of[choice.purpose]
                change.legal_basis = consent_pb2.LEGAL_BASIS_CONSENT
                action = consent_pb2.ACTION_GRANT
            to_record.append(consent_pb2.ChangeToRecord(action=action, change=change))
        if to_record:
            with _upstream():  # all of the form's changes, or none of them
                self._consent.RecordChanges(consent_pb2.RecordChangesRequest(changes=to_record))
        return asked

    def object(self, link: PersonLink, person: Requester) -> None:
        """Records an Art. 21 objection: no marketing from any component, on any channel."""
        request = consent_pb2.ObjectionRequest(
            contact_id=link.contact_id,
            how=consent_pb2.HOW_PREFERENCE_PAGE,
            source=SOURCE,
            ip=person.ip,
            user_agent=person.user_agent,
        )
        with _upstream():
            self._consent.Object(request)

    def _purposes(self) -> list[consent_pb2.Purpose]:
        request = consent_pb2.ListPurposesRequest(page_size=ALL_AT_ONCE)
        purposes = every_page(self._consent.ListPurposes, request, "purposes")
        return sorted((p for p in purposes if p.active), key=lambda p: p.key)

    def _notices(
        self, purposes: list[consent_pb2.Purpose], lang: Language
    ) -> dict[str, tuple[str | None, str | None]]:
        """Per purpose, the text and id of the latest notice in `lang` (else in another)."""
        requests = {
            p.key: consent_pb2.ListNoticesRequest(purpose=p.key, page_size=ALL_AT_ONCE)
            for p in purposes
        }
        calls = {key: self._consent.ListNotices.future(r) for key, r in requests.items()}
        found: dict[str, tuple[str | None, str | None]] = {}
        for key, call in calls.items():
            notices = every_page(self._consent.ListNotices, requests[key], "notices", call.result())
            latest = {n.language: n for n in notices}  # by version, ascending
            notice = latest.get(lang) or next(iter(latest.values()), None)
            found[key] = (notice.text, notice.id) if notice else (None, None)
        return found

    def _component_names(self) -> dict[str, str]:
        request = contacts_pb2.ListComponentsRequest(page_size=ALL_AT_ONCE)
        components = every_page(self._contacts.ListComponents, request, "components")
        return {c.id: c.name for c in components}

    def _campaign_owner(self, campaign_id: str) -> str | None:
        """The component that sent the mail the link came in; None when it cannot be told."""
        if not campaign_id:
            return None
        try:
            campaign = self._campaigns.GetCampaign(campaigns_pb2.GetCampaignRequest(id=campaign_id))
        except grpc.RpcError as error:
            # The page still serves the grouping and the components consent names.
            log.info("preference page: campaign owner unknown (%s)", error.code())  # type: ignore[attr-defined]
            return None
        return campaign.owner_component or None


def _channels(channels: Iterable[int]) -> tuple[str, ...]:
    return tuple(sorted(_channel_word(c) for c in channels))


def _channel_word(channel: int) -> str:
    return consent_pb2.Channel.Name(channel).removeprefix("CHANNEL_").lower()  # type: ignore[arg-type]


def _scope_word(entry: consent_pb2.StateEntry) -> str:
    if entry.scope.WhichOneof("kind") == "component_id":
        return entry.scope.component_id
    return GROUPING


def _reachable(entries: Iterable[consent_pb2.StateEntry]) -> dict[Choice, bool]:
    """Per choice consent answers for, whether a box stands subscribed."""
    return {
        Choice(_scope_word(e), e.purpose, _channel_word(e.channel)): (
            e.allowed and e.basis in _WITHDRAWABLE
        )
        for e in entries
    }


def _components(entries: Iterable[consent_pb2.StateEntry], owner: str | None) -> list[str]:
    """The components the person's state names, and the one that sent the link's mail."""
    named = {e.scope.component_id for e in entries if e.scope.WhichOneof("kind") == "component_id"}
    return sorted(named | ({owner} if owner else set()))


def _change(contact_id: str, choice: Choice, person: Requester) -> consent_pb2.ConsentChange:
    scope = (
        consent_pb2.Scope(grouping=True)
        if choice.is_grouping
        else consent_pb2.Scope(component_id=choice.scope)
    )
    return consent_pb2.ConsentChange(
        contact_id=contact_id,
        channel=consent_pb2.Channel.Value(f"CHANNEL_{choice.channel.upper()}"),  # type: ignore[arg-type]
        purpose=choice.purpose,
        scope=scope,
        how=consent_pb2.HOW_PREFERENCE_PAGE,
        source=SOURCE,
        ip=person.ip,
        user_agent=person.user_agent,
    )


def every_page(method: Any, request: Any, field: str, first: Any = None) -> list[Any]:
    """Every item of a paged list RPC, following `next_page_token` (`first`: the reply to
    `request` when already in hand)."""
    reply = first if first is not None else method(request)
    items = list(getattr(reply, field))
    while reply.next_page_token:
        request.page_token = reply.next_page_token
        reply = method(request)
        items += getattr(reply, field)
    return items
