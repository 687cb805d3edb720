"""The gRPC face of the consent service: message in, use case, message out."""

from __future__ import annotations

import grpc

from meshkit.db import Database
from meshkit.errors import Unavailable
from meshkit.identity import current_principal
from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.consent.v1 import consent_pb2_grpc
from services.consent import mapping, merges, privacy_mapping, privacy_requests, service
from services.consent.clients import ContactDirectory
from services.consent.privacy_requests import Parts
from services.consent.service import Clock, utc_now


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    """crm.consent.v1.ConsentService over one database, asking contacts before any write."""

    def __init__(
        self,
        db: Database,
        contacts: ContactDirectory,
        clock: Clock = utc_now,
        privacy: Parts | None = None,
    ):
        self._db = db
        self._contacts = contacts
        self._clock = clock
        self._privacy = privacy

    def Grant(self, request: pb.ConsentChange, context: grpc.ServicerContext) -> pb.ConsentEvent:
        change = mapping.change_request(request)
        event = service.grant(self._db, self._contacts, current_principal(), change, self._clock)
        return mapping.event_message(event)

    def Withdraw(self, request: pb.ConsentChange, context: grpc.ServicerContext) -> pb.ConsentEvent:
        change = mapping.change_request(request)
        event = service.withdraw(self._db, self._contacts, current_principal(), change, self._clock)
        return mapping.event_message(event)

    def GetHistory(
        self, request: pb.GetHistoryRequest, context: grpc.ServicerContext
    ) -> pb.GetHistoryResponse:
        events = service.history(self._db, current_principal(), request.contact_id)
        return mapping.history_message(events)

    def CheckBatch(
        self, request: pb.CheckBatchRequest, context: grpc.ServicerContext
    ) -> pb.CheckBatchResponse:
        query = mapping.batch_request(request)
        verdicts = service.check_batch(self._db, current_principal(), query)
        return mapping.batch_message(verdicts)

    def MergeContacts(
        self, request: pb.MergeContactsRequest, context: grpc.ServicerContext
    ) -> pb.MergeContactsResponse:
        merges.merge_contacts(self._db, current_principal(), request.survivor_id, request.merged_id)
        return pb.MergeContactsResponse()

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

    def _privacy_parts(self) -> Parts:
        if self._privacy is None:
            raise Unavailable("privacy requests are not wired in this process")
        return self._privacy
