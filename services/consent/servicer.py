"""The gRPC face of the consent service: message in, use case, message out."""

from __future__ import annotations

import json

import grpc

from meshkit.db import Database
from meshkit.errors import Unavailable
from meshkit.identity import current_principal
from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.consent.v1 import consent_pb2_grpc
from services.consent import mapping, merges, service
from services.consent.clients import ContactDirectory
from services.consent.receipts import Receipts
from services.consent.service import Clock, utc_now


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
    ):
        self._db = db
        self._contacts = contacts
        self._clock = clock
        self._secret = suppression_secret  # of the suppression list's address hashes
        self._receipts = receipts

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

    # --- Suppression list and consent receipts ---------------------------------------------

    def Suppress(
        self, request: pb.SuppressRequest, context: grpc.ServicerContext
    ) -> pb.SuppressResponse:
        reason = mapping.suppression_reason(request.reason)
        added = service.suppress(
            self._db, self._secret, current_principal(), request.addresses, reason, self._clock
        )
        return pb.SuppressResponse(added=added)

    def FilterSuppressed(
        self, request: pb.FilterSuppressedRequest, context: grpc.ServicerContext
    ) -> pb.FilterSuppressedResponse:
        found = service.filter_suppressed(
            self._db, self._secret, current_principal(), request.addresses
        )
        return pb.FilterSuppressedResponse(suppressed_indexes=found)

    def GetReceipt(
        self, request: pb.GetReceiptRequest, context: grpc.ServicerContext
    ) -> pb.ConsentReceipt:
        receipts = self._require_receipts()
        receipt = service.receipt(self._db, receipts, current_principal(), request.event_id)
        return mapping.receipt_message(receipt)

    def GetReceiptKeys(
        self, request: pb.GetReceiptKeysRequest, context: grpc.ServicerContext
    ) -> pb.ReceiptKeys:
        return pb.ReceiptKeys(jwks_json=json.dumps(self._require_receipts().signer.jwks()))

    def _require_receipts(self) -> Receipts:
        if self._receipts is None:
            raise Unavailable("this consent server issues no receipts (no signing key)")
        return self._receipts
