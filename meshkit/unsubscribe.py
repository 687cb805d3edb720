"""Unforgeable one-click unsubscribe tokens (RFC 8058 links).

Campaigns signs one per delivery; the gateway's public endpoint verifies it.
The token names only opaque ids (contact, campaign) and the purpose: never an
address or a name, since links travel in mail headers and server logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from meshkit.errors import NotFound


@dataclass(frozen=True)
class UnsubscribeRequest:
    contact_id: str
    purpose: str
    campaign_id: str


class UnsubscribeTokens:
    """Signs and verifies unsubscribe tokens with a secret shared by campaigns and gateway."""

    def __init__(self, secret: str):
        self._serializer = URLSafeSerializer(secret, salt="crm-unsubscribe-v1")

    def sign(self, request: UnsubscribeRequest) -> str:
        return self._serializer.dumps([request.contact_id, request.purpose, request.campaign_id])

    def verify(self, token: str) -> UnsubscribeRequest:
        try:
            contact_id, purpose, campaign_id = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise NotFound("unknown or altered unsubscribe link") from None
        return UnsubscribeRequest(str(contact_id), str(purpose), str(campaign_id))
