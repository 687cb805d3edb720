"""The gRPC face of the consent service: message in, use case, message out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeAlias

import grpc

from meshkit.db import Database
from meshkit.errors import Unavailable
from meshkit.identity import current_principal
from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.consent.v1 import consent_pb2_grpc
from services.consent import (
    catalogue,
    event_feed,
    mapping,
    merges,
    privacy_mapping,
    privacy_requests,
    proofs,
    service,
)
from services.consent.clients import ContactDirectory
from services.consent.privacy_requests import Parts
from services.consent.receipts import Receipts
from services.consent.service import Clock, utc_now

Context: TypeAlias = grpc.ServicerContext


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    """crm.consent.v1.ConsentService over one database, asking contacts before any write."""

    def __init__(
        self,
        db: Database,
        contacts: ContactDirectory,
        clock: Clock = utc_now,
        *,
        suppression_secret: bytes = b"",
        receipts: Receipts | None = None,
        privacy: Parts | None = None,
        after_commit: Callable[[], None] = lambda: None,
    ):
        self._db = db
        self._contacts = contacts
        self._clock = clock
        self._secret = suppression_secret  # of the suppression list's address hashes
        self._receipts = receipts
        self._privacy = privacy
        # Delivers the outbox soon after a write that may have enqueued (the job is the net).
        self._after_commit = after_commit

    def Grant(self, request: pb.ConsentChange, context: Context) -> pb.ConsentEvent:
        change = mapping.change_request(request)
        event = service.grant(self._db, self._contacts, current_principal(), change, self._clock)
        self._after_commit()
        return mapping.event_message(event)

    def Deny(self, request: pb.ConsentChange, context: Context) -> pb.ConsentEvent:
        change = mapping.change_request(request)
        event = service.deny(self._db, self._contacts, current_principal(), change, self._clock)
        return mapping.event_message(event)

    def Withdraw(self, request: pb.ConsentChange, context: Context) -> pb.ConsentEvent:
        change = mapping.change_request(request)
        event = service.withdraw(self._db, self._contacts, current_principal(), change, self._clock)
        return mapping.event_message(event)

    def Object(self, request: pb.ObjectionRequest, context: Context) -> pb.ConsentEvent:
        objection = mapping.objection_request(request)
        event = service.object_to_marketing(
            self._db, self._contacts, current_principal(), objection, self._clock
        )
        self._after_commit()
        return mapping.event_message(event)

    def Confirm(self, request: pb.ConfirmRequest, context: Context) -> pb.ConsentEvent:
        confirmation = mapping.confirm_request(request)
        event = service.confirm(self._db, current_principal(), confirmation, self._clock)
        self._after_commit()
        return mapping.event_message(event)

    def Revalidate(self, request: pb.RevalidateRequest, context: Context) -> pb.ConsentEvent:
        renewal = mapping.revalidate_request(request)
        event = service.revalidate(self._db, current_principal(), renewal, self._clock)
        self._after_commit()
        return mapping.event_message(event)

    def RecordChanges(
        self, request: pb.RecordChangesRequest, context: Context
    ) -> pb.RecordChangesResponse:
        changes = [mapping.change_to_record(c) for c in request.changes]
        events = service.record_changes(
            self._db, self._contacts, current_principal(), changes, self._clock
        )
        self._after_commit()  # a grant may have owed a mail or a lift of the suppression list
        return pb.RecordChangesResponse(events=[mapping.event_message(e) for e in events])

    def GetHistory(self, request: pb.GetHistoryRequest, context: Context) -> pb.GetHistoryResponse:
        page = service.history(
            self._db,
            self._contacts,
            current_principal(),
            request.contact_id,
            request.page_size,
            request.page_token,
        )
        return mapping.history_message(page.events, page.next_page_token)

    def GetState(self, request: pb.GetStateRequest, context: Context) -> pb.GetStateResponse:
        at = mapping.at_of(request)
        state = service.state(
            self._db,
            self._contacts,
            current_principal(),
            request.contact_id,
            at,
            request.professional_address,
            self._clock,
        )
        return mapping.state_message(state)

    def CheckBatch(self, request: pb.CheckBatchRequest, context: Context) -> pb.CheckBatchResponse:
        query = mapping.batch_request(request)
        verdicts = service.check_batch(self._db, current_principal(), query, self._secret)
        return mapping.batch_message(verdicts)

    def MergeContacts(
        self, request: pb.MergeContactsRequest, context: Context
    ) -> pb.MergeContactsResponse:
        merges.merge_contacts(self._db, current_principal(), request.survivor_id, request.merged_id)
        return pb.MergeContactsResponse()

    def CreatePurpose(self, request: pb.Purpose, context: Context) -> pb.Purpose:
        purpose = mapping.purpose_request(request)
        return mapping.purpose_message(
            catalogue.create_purpose(self._db, current_principal(), purpose)
        )

    def UpdatePurpose(self, request: pb.UpdatePurposeRequest, context: Context) -> pb.Purpose:
        channels = [mapping.CHANNELS.get(c) for c in request.channels]
        purpose = catalogue.update_purpose(
            self._db,
            current_principal(),
            request.key,
            list(request.fields),
            request.label_fr,
            request.label_en,
            channels,
            request.active,
        )
        return mapping.purpose_message(purpose)

    def ListPurposes(
        self, request: pb.ListPurposesRequest, context: Context
    ) -> pb.ListPurposesResponse:
        purposes, token = catalogue.list_purposes(
            self._db, request.include_inactive, request.page_size, request.page_token
        )
        return pb.ListPurposesResponse(
            purposes=[mapping.purpose_message(p) for p in purposes], next_page_token=token
        )

    def SetBasisRule(self, request: pb.BasisRule, context: Context) -> pb.BasisRule:
        rule = catalogue.set_rule(self._db, current_principal(), mapping.rule_request(request))
        return mapping.rule_message(rule)

    def ListBasisRules(
        self, request: pb.ListBasisRulesRequest, context: Context
    ) -> pb.ListBasisRulesResponse:
        rules, token = catalogue.list_rules(
            self._db, request.purpose, request.page_size, request.page_token
        )
        return pb.ListBasisRulesResponse(
            rules=[mapping.rule_message(r) for r in rules], next_page_token=token
        )

    def PublishNotice(self, request: pb.PublishNoticeRequest, context: Context) -> pb.Notice:
        notice = catalogue.publish_notice(
            self._db,
            current_principal(),
            request.purpose,
            request.language,
            request.text,
            self._clock,
        )
        return mapping.notice_message(notice)

    def ListNotices(
        self, request: pb.ListNoticesRequest, context: Context
    ) -> pb.ListNoticesResponse:
        notices, token = catalogue.list_notices(
            self._db, request.purpose, request.page_size, request.page_token
        )
        return pb.ListNoticesResponse(
            notices=[mapping.notice_message(n) for n in notices], next_page_token=token
        )

    # --- Suppression list and consent receipts ---------------------------------------------

    def Suppress(
        self, request: pb.SuppressRequest, context: grpc.ServicerContext
    ) -> pb.SuppressResponse:
        reason = mapping.suppression_reason(request.reason)
        added = proofs.suppress(
            self._db, self._secret, current_principal(), request.addresses, reason, self._clock
        )
        return pb.SuppressResponse(added=added)

    def FilterSuppressed(
        self, request: pb.FilterSuppressedRequest, context: grpc.ServicerContext
    ) -> pb.FilterSuppressedResponse:
        found = proofs.filter_suppressed(
            self._db, self._secret, current_principal(), request.addresses
        )
        return pb.FilterSuppressedResponse(suppressed_indexes=found)

    def GetReceipt(
        self, request: pb.GetReceiptRequest, context: grpc.ServicerContext
    ) -> pb.ConsentReceipt:
        receipts = self._require_receipts()
        receipt = proofs.receipt(self._db, receipts, current_principal(), request.event_id)
        return mapping.receipt_message(receipt)

    def GetReceiptKeys(
        self, request: pb.GetReceiptKeysRequest, context: grpc.ServicerContext
    ) -> pb.ReceiptKeys:
        return pb.ReceiptKeys(jwks_json=json.dumps(self._require_receipts().signer.jwks()))

    def _require_receipts(self) -> Receipts:
        if self._receipts is None:
            raise Unavailable("this consent server issues no receipts (no signing key)")
        return self._receipts

    # --- Privacy requests ------------------------------------------------------------------

    def OpenPrivacyRequest(
        self, request: pb.OpenPrivacyRequestRequest, context: grpc.ServicerContext
    ) -> pb.PrivacyRequest:
        opened = privacy_mapping.open_request(request)
        request_id = privacy_requests.open_request(
            self._db, self._privacy_parts(), current_principal(), opened
        )
        found = privacy_requests.get_request(self._db, current_principal(), request_id)
        return privacy_mapping.request_message(found)

    def GetPrivacyRequest(
        self, request: pb.GetPrivacyRequestRequest, context: grpc.ServicerContext
    ) -> pb.PrivacyRequest:
        found = privacy_requests.get_request(self._db, current_principal(), request.id)
        return privacy_mapping.request_message(found)

    def ListPrivacyRequests(
        self, request: pb.ListPrivacyRequestsRequest, context: grpc.ServicerContext
    ) -> pb.ListPrivacyRequestsResponse:
        query = privacy_mapping.list_query(request)
        page = privacy_requests.list_requests(self._db, current_principal(), query)
        return privacy_mapping.page_message(page)

    def GetPrivacyExport(
        self, request: pb.GetPrivacyExportRequest, context: grpc.ServicerContext
    ) -> pb.PrivacyExport:
        document = privacy_requests.export_document(
            self._db, current_principal(), request.id, self._clock
        )
        return privacy_mapping.export_message(document)

    def EraseContact(
        self, request: pb.EraseContactRequest, context: grpc.ServicerContext
    ) -> pb.EraseContactResponse:
        erased = privacy_requests.erase_contact(self._db, current_principal(), request.contact_id)
        return pb.EraseContactResponse(events_erased=erased)

    def ListConsentEvents(
        self, request: pb.ListConsentEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListConsentEventsResponse:
        events, cursor = event_feed.list_events(
            self._db, current_principal(), request.after, list(request.kinds), request.page_size
        )
        response = pb.ListConsentEventsResponse(next=cursor)
        for event in events:
            listed = response.events.add(
                id=event.seq, contact_id=event.contact_id, kind=event.kind, purpose=event.purpose
            )
            listed.at.FromDatetime(event.at)
        return response

    def _privacy_parts(self) -> Parts:
        if self._privacy is None:
            raise Unavailable("privacy requests are not wired in this process")
        return self._privacy
