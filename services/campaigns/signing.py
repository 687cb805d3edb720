"""DKIM signatures (RFC 6376) on the bytes a mail leaves with, by dkimpy.

The signature covers the headers a receiver judges the mail by and that a
forwarder must not change: From, To, Subject, Date, Message-ID, both
List-Unsubscribe headers (RFC 8058 asks for them to be signed, or one-click is
ignored), the MIME headers, and the few a transactional sender may add. From and
the two List-Unsubscribe headers are signed once more than they appear, so a
copy with another one added no longer verifies. Relaxed canonicalisation of
headers and body survives the re-folding relays do.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Lower-case names, in the order they go into h=.
SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "reply-to",
    "in-reply-to",
    "references",
    "content-language",
    "auto-submitted",
)
# Signed one extra time: a second such header added on the way breaks the signature.
OVERSIGNED = ("from", "list-unsubscribe", "list-unsubscribe-post")


class DkimKeyError(ValueError):
    """The configured DKIM key cannot sign (not an RSA private key in PEM)."""


@dataclass(frozen=True)
class DkimSigner:
    """Signs mails for one domain and selector with one RSA private key (PEM)."""

    selector: str
    domain: str
    private_key_pem: bytes

    @classmethod
    def from_file(cls, selector: str, domain: str, key_file: Path) -> DkimSigner:
        """Reads and checks the key now, so a bad key stops the service at start-up."""
        signer = cls(selector, domain, key_file.read_bytes())
        signer.dns_record()  # raises DkimKeyError
        return signer

    def sign(self, data: bytes) -> bytes:
        """`data` (a whole mail, CRLF line ends) with its DKIM-Signature header first."""
        present = set(_header_names(data))
        include = [h for h in SIGNED_HEADERS if h in present]
        include += [h for h in OVERSIGNED if h in present]
        signature = dkim.sign(
            data,
            self.selector.encode(),
            self.domain.encode(),
            self.private_key_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[h.encode() for h in include],
            linesep=b"\r\n",
        )
        return bytes(signature) + data

    def dns_record(self) -> str:
        """The TXT record to publish at `<selector>._domainkey.<domain>`."""
        try:
            key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        except (ValueError, TypeError):
            raise DkimKeyError("the DKIM key file holds no unencrypted PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DkimKeyError("the DKIM key must be an RSA key")
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def _header_names(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0]
    names = []
    for line in head.split(b"\r\n"):
        if line and line[:1] not in (b" ", b"\t"):
            names.append(line.split(b":", 1)[0].strip().decode("ascii", "replace").lower())
    return names
