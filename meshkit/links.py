"""Signed links a person follows from a mail: preferences, opt-in confirmation, receipts.

One format for every kind: an itsdangerous timed signature over
[contact id, reference], salted with the kind, so a link of one kind never
opens another. A link names opaque ids only (never an address or a name:
links travel in mail headers, proxies and server logs). Each kind has its own
lifetime; a genuine link past it is `Expired` (the page offers a new one), a
forged or altered one is `NotFound`.

The one-click unsubscribe link keeps its own, non-expiring format
(meshkit/unsubscribe.py): RFC 8058 asks that it keep working as long as mail
carrying it may be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from meshkit.errors import Expired, NotFound


class LinkKind(StrEnum):
    PREFERENCES = "preferences"  # ref: the campaign the mail belongs to, or ""
    CONFIRM = "confirm"  # ref: the pending grant's event id (double opt-in)
    REVALIDATE = "revalidate"  # ref: the grant's event id nearing expiry
    RECEIPT = "receipt"  # ref: the grant's event id


LIFETIMES: Mapping[LinkKind, timedelta] = MappingProxyType(
    {
        # Every mail carries one; people open old mail.
        LinkKind.PREFERENCES: timedelta(days=180),
        # Double opt-in: a confirmation is fresh or it is not one.
        LinkKind.CONFIRM: timedelta(days=7),
        # Sent a month before a consent lapses: valid until well after.
        LinkKind.REVALIDATE: timedelta(days=60),
        LinkKind.RECEIPT: timedelta(days=365),
    }
)


@dataclass(frozen=True)
class PersonLink:
    """What a verified link says: of which kind, for which contact, about what."""

    kind: LinkKind
    contact_id: str
    ref: str


class PersonLinks:
    """Signs and verifies person links with a secret shared by the services that use them."""

    def __init__(
        self,
        secret: str,
        lifetimes: Mapping[LinkKind, timedelta] = LIFETIMES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._serializers = {
            kind: _serializer(secret, f"crm-link-{kind.value}-v1", clock) for kind in LinkKind
        }
        self._lifetimes = lifetimes

    def sign(self, kind: LinkKind, contact_id: str, ref: str = "") -> str:
        """A URL-safe token for this kind of link."""
        return str(self._serializers[kind].dumps([contact_id, ref]))

    def verify(self, kind: LinkKind, token: str) -> PersonLink:
        """The link's content; NotFound when forged or altered, Expired when too old."""
        max_age = int(self._lifetimes[kind].total_seconds())
        try:
            contact_id, ref = self._serializers[kind].loads(token, max_age=max_age)
        except SignatureExpired:
            raise Expired("this link has expired; ask for a new one") from None
        except (BadSignature, ValueError, TypeError):
            raise NotFound("unknown or altered link") from None
        return PersonLink(kind, str(contact_id), str(ref))


def _serializer(secret: str, salt: str, clock: Callable[[], datetime]) -> URLSafeTimedSerializer:
    """A timed serializer reading `clock` (tests move it: the clock is the one fake)."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return URLSafeTimedSerializer(secret, salt=salt, signer=ClockedSigner)
