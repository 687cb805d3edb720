"""Optional TLS between the services: server certificates, client verification (mTLS).

One CA for the mesh: each service's certificate serves both as its server certificate
and as the client certificate it presents when it calls a peer; the CA file verifies
peers in both directions. With no file set, channels stay plaintext (one machine,
or a network that is encrypted already, such as a service mesh sidecar).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import grpc
from pydantic import Field, model_validator

from meshkit.secret_files import SecretFileSettings


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one side of a TLS connection; any of them may be absent."""

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """Credentials of a client: verify the server against the CA (or the system's
        roots), and present the certificate when there is one. None: plaintext."""
        if self.ca_file is None and self.cert_file is None:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


class TlsClientSettings(SecretFileSettings):
    """`<PREFIX>TLS_*` of a process that only calls services (the gateway)."""

    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate (chain) this process presents to the services it calls "
        "(needed when they require client certificates).",
    )
    tls_key_file: Path | None = Field(
        None, description="PEM private key of the TLS certificate (with TLS_CERT_FILE)."
    )
    tls_ca_file: Path | None = Field(
        None,
        description="PEM CA certificate(s) the services' certificates must be signed by; "
        "set: gRPC calls use TLS, none: plaintext.",
    )

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither")
        return self

    def tls_files(self) -> TlsFiles:
        """The files as a value the channel and probe code share."""
        return TlsFiles(self.tls_cert_file, self.tls_key_file, self.tls_ca_file)

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """What outbound channels use; None: plaintext."""
        return self.tls_files().channel_credentials()


class TlsSettings(TlsClientSettings):
    """`<PREFIX>TLS_*` of a gRPC service: the certificate it shows, the CA it trusts."""

    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate (chain) of this service: its gRPC server's certificate, "
        "also presented as client certificate to its peers; none: plaintext gRPC server.",
    )
    tls_ca_file: Path | None = Field(
        None,
        description="PEM CA certificate(s) that peers' certificates must be signed by: "
        "verifies the services this one calls (TLS to them when set) and, with "
        "TLS_CLIENT_AUTH, its own callers.",
    )
    tls_client_auth: bool = Field(
        False,
        description="The gRPC server requires a client certificate signed by TLS_CA_FILE (mTLS).",
    )

    @model_validator(mode="after")
    def _client_auth_complete(self) -> Self:
        if self.tls_client_auth and (self.tls_ca_file is None or self.tls_cert_file is None):
            raise ValueError("TLS_CLIENT_AUTH needs TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE")
        return self

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """What the gRPC server listens with; None: plaintext."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return grpc.ssl_server_credentials(
            [(self.tls_key_file.read_bytes(), self.tls_cert_file.read_bytes())],
            root_certificates=_read(self.tls_ca_file) if self.tls_client_auth else None,
            require_client_auth=self.tls_client_auth,
        )
