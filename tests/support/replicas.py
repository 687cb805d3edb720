"""Kill a service replica of a running Mesh and start it again, as an orchestrator would.

The new process gets the environment the old one was started with (read from
/proc before the kill), plus `changes`; it stops with the rest of the test.
"""

from __future__ import annotations

import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path

from tests.support.mesh import Mesh
from tests.support.processes import service_process, wait_grpc_healthy


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def restart(
    mesh: Mesh,
    replica: str,
    stack: ExitStack,
    changes: dict[str, str] | None = None,
    kill: bool = True,
) -> subprocess.Popen[bytes]:
    """SIGKILLs (or, with kill=False, terminates) `replica` and starts it again, healthy."""
    old = mesh.processes[replica]
    env = {**environment_of(old.pid), **(changes or {})}
    if kill:
        old.send_signal(signal.SIGKILL)
    else:
        old.terminate()
    old.wait(30)
    new = stack.enter_context(service_process("campaigns", env, mesh.logs / replica))
    mesh.processes[replica] = new
    wait_grpc_healthy(mesh.targets[replica], timeout=60)
    return new
