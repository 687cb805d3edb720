"""A real service with TLS and client verification (mTLS), against certificates made here."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from meshkit.grpc_client import open_channel
from meshkit.tls import TlsFiles
from services import cli
from services.dev.health import grpc_serving
from tests.support.certificates import TestCA
from tests.support.processes import free_port, service_process


class Mesh:
    """One contacts process with mTLS on, and the files its peers would hold."""

    def __init__(self, target: str, ca: TestCA, client: tuple[Path, Path], rogue: TestCA):
        self.target = target
        self.peer = TlsFiles(client[0], client[1], ca.cert_file)
        self.ca = ca
        self.rogue = rogue


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("tls")
    ca = TestCA(folder / "ca")
    server_cert, server_key = ca.issue("contacts", hosts=("localhost", "127.0.0.1"))
    client = ca.issue("campaigns")
    rogue = TestCA(folder / "rogue", name="rogue-ca")
    target = f"127.0.0.1:{free_port()}"
    env = {
        "CRM_HOME": str(folder / "home"),
        "CONTACTS_LISTEN": target,
        "CONTACTS_TLS_CERT_FILE": str(server_cert),
        "CONTACTS_TLS_KEY_FILE": str(server_key),
        "CONTACTS_TLS_CA_FILE": str(ca.cert_file),
        "CONTACTS_TLS_CLIENT_AUTH": "true",
    }
    mesh = Mesh(target, ca, client, rogue)
    with service_process("contacts", env, folder / "logs") as process:
        deadline = time.monotonic() + 60
        while not grpc_serving(target, 1.0, tls=mesh.peer):
            assert process.poll() is None, (folder / "logs" / "contacts.log").read_text()
            assert time.monotonic() < deadline, "contacts with TLS never became healthy"
            time.sleep(0.1)
        yield mesh


def test_a_peer_with_a_certificate_from_the_ca_is_answered(mesh: Mesh) -> None:
    assert grpc_serving(mesh.target, tls=mesh.peer)
    # The channel the services open themselves (token, deadline) over the same credentials.
    with open_channel(
        mesh.target, lambda: "unused", 5.0, mesh.peer.channel_credentials()
    ) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_plaintext_client_is_refused(mesh: Mesh) -> None:
    assert not grpc_serving(mesh.target)
    with open_channel(mesh.target, lambda: "unused", 5.0) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


def test_a_client_without_a_certificate_is_refused(mesh: Mesh) -> None:
    assert not grpc_serving(mesh.target, tls=TlsFiles(ca_file=mesh.ca.cert_file))


def test_a_client_with_a_certificate_from_another_ca_is_refused(mesh: Mesh) -> None:
    cert, key = mesh.rogue.issue("intruder")
    assert not grpc_serving(mesh.target, tls=TlsFiles(cert, key, mesh.ca.cert_file))


def test_a_client_refuses_a_server_whose_certificate_is_not_from_its_ca(mesh: Mesh) -> None:
    # The client's own certificate is good; only the CA it trusts differs.
    trusting_rogue = TlsFiles(mesh.peer.cert_file, mesh.peer.key_file, mesh.rogue.cert_file)
    assert not grpc_serving(mesh.target, tls=trusting_rogue)


def test_crm_health_probes_over_tls(mesh: Mesh) -> None:
    def probe(**tls: Path | None) -> int:
        args = argparse.Namespace(
            protocol="grpc",
            target=mesh.target,
            tls_ca=tls.get("ca"),
            tls_cert=tls.get("cert"),
            tls_key=tls.get("key"),
        )
        with pytest.raises(SystemExit) as exited:
            cli.health(args)
        return int(exited.value.code or 0)

    assert probe(ca=mesh.ca.cert_file, cert=mesh.peer.cert_file, key=mesh.peer.key_file) == 0
    assert probe() == 1
