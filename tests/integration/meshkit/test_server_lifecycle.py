"""A gRPC service process: it will not share a port, and a second signal never makes it hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.processes import free_port, service_process, wait_grpc_healthy
from tests.support.tokens import TestKeys

BOUND = 60  # seconds: a bounded wait, never an assertion on time


def _contacts_env(home: Path, listen: str) -> dict[str, str]:
    keys = TestKeys(home / "test-keys")
    return {
        **keys.env("CONTACTS_"),
        "CRM_HOME": str(home),
        "CONTACTS_LISTEN": listen,
        "CONTACTS_DATABASE_URL": f"sqlite:///{home / 'contacts.db'}",
    }


def _serve_contacts(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", "serve", "contacts"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=BOUND,
        )
    except subprocess.TimeoutExpired as running:
        pytest.fail(f"a second server started on a taken port: {running.stderr!r}")


def _assert_refused(result: subprocess.CompletedProcess[str], listen: str) -> None:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    reasons = [line for line in result.stderr.splitlines() if listen in line]
    assert len(reasons) == 1, result.stderr
    assert "cannot listen" in reasons[0], result.stderr


def test_a_second_contacts_server_on_a_taken_port_exits_with_one_clear_line(
    tmp_path: Path,
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    first = _contacts_env(tmp_path / "first", listen)
    with service_process("contacts", first, tmp_path / "logs"):
        wait_grpc_healthy(listen, timeout=BOUND)
        _assert_refused(_serve_contacts(_contacts_env(tmp_path / "second", listen)), listen)


def test_a_contacts_server_on_a_port_another_program_holds_exits_clearly(
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        _assert_refused(_serve_contacts(_contacts_env(tmp_path, listen)), listen)


SERVER_WITH_A_STUCK_RPC = textwrap.dedent(
    """
    import sys, threading
    import grpc
    from google.protobuf import empty_pb2
    from meshkit.grpc_server import build_server, run_until_signalled
    from tests.support.tokens import TestKeys

    keys = TestKeys(__import__("pathlib").Path(sys.argv[2]))
    entered = threading.Event()

    def stuck(request, context):
        entered.set()
        threading.Event().wait(600)  # an RPC that would outlive any patience
        return empty_pb2.Empty()

    handler = grpc.method_handlers_generic_handler("test.Stuck", {
        "Call": grpc.unary_unary_rpc_method_handler(
            stuck,
            request_deserializer=empty_pb2.Empty.FromString,
            response_serializer=empty_pb2.Empty.SerializeToString,
        )
    })
    server, health = build_server(
        keys.verifier, [("test.Stuck", lambda s: s.add_generic_rpc_handlers((handler,)))]
    )

    def call():
        with grpc.insecure_channel(sys.argv[1]) as channel:
            try:
                # wait_for_ready: the server starts after this thread, and a call that
                # fails fast would never reach the handler (the test then waits forever).
                channel.unary_unary("/test.Stuck/Call")(
                    b"",
                    metadata=[("authorization", "Bearer " + keys.manager("sciences"))],
                    wait_for_ready=True,
                )
            except grpc.RpcError:
                pass

    def announce():
        entered.wait()
        print("stuck", flush=True)

    threading.Thread(target=call, daemon=True).start()
    threading.Thread(target=announce, daemon=True).start()
    run_until_signalled(server, health, sys.argv[1], grace_seconds=600)
    print("returned", flush=True)
    # The stuck handler thread would hold the interpreter's exit; `crm serve` bounds that
    # exit itself, this script only checks that run_until_signalled returns.
    import os
    os._exit(0)
    """
)


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGTERM)],
    ids=["int-then-term", "term-twice"],
)
def test_a_second_signal_during_shutdown_cuts_the_grace_short(
    tmp_path: Path, signals: tuple[signal.Signals, signal.Signals]
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    script = tmp_path / "stuck_server.py"
    script.write_text(SERVER_WITH_A_STUCK_RPC)
    process = subprocess.Popen(
        [sys.executable, str(script), listen, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "stuck"
        process.send_signal(signals[0])
        time.sleep(0.5)  # shutdown has begun; the stuck RPC holds it
        process.send_signal(signals[1])
        out, err = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the server hung after a second signal: {err}")
    assert "returned" in out, err
    assert "Traceback" not in err, err
