"""The consent service as contacts asks it: which of these addresses are suppressed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import grpc

from meshkit.errors import DomainError, Unavailable
from meshkit.grpc_client import domain_error
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc

log = logging.getLogger(__name__)

BATCH = 10_000  # the most addresses FilterSuppressed takes in one call


class SuppressionList(Protocol):
    """Which of these addresses are on the suppression list; Unavailable when unknown."""

    def suppressed(self, addresses: Sequence[str]) -> set[str]: ...


class GrpcSuppressionList:
    """ConsentService.FilterSuppressed over a channel that carries contacts' identity."""

    def __init__(self, channel: grpc.Channel):
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)

    def suppressed(self, addresses: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(addresses), BATCH):
            chunk = list(addresses[start : start + BATCH])
            request = consent_pb2.FilterSuppressedRequest(addresses=chunk)
            try:
                reply = self._stub.FilterSuppressed(request)
            except grpc.RpcError as error:
                raise _unchecked(error) from None
            found.update(chunk[index] for index in reply.suppressed_indexes)
        return found


def _unchecked(error: grpc.RpcError) -> DomainError:
    """Unavailable when consent did not answer; otherwise a bare internal error (logged)."""
    if isinstance(domain_error(error), Unavailable):
        return Unavailable(
            "the consent service did not answer, so the suppression list could not be "
            "checked: nothing was imported; send the batch again"
        )
    log.error("consent refused FilterSuppressed: %s", error.code())  # type: ignore[attr-defined]
    return DomainError("the suppression list could not be checked: nothing was imported")
