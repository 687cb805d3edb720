"""`crm up` as a newcomer runs it: in a folder of its own, on embedded defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from services.dev.up import PORT_COUNT, Ports
from tests.support.processes import free_port_run, wait_http_healthy

SERVICE_PREFIXES = ("CONTACTS_", "CONSENT_", "CAMPAIGNS_", "GATEWAY_", "CRM_")


class EmbeddedMesh:
    """Runs `crm up --port-base N` with `folder` as its working directory.

    No CRM_HOME and no service setting is passed: state lands in `folder/.crm`,
    as for a user who follows the README. Output goes to `folder/up.log`.
    """

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.home = folder / ".crm"
        self.ports = Ports.from_base(free_port_run(PORT_COUNT))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_PREFIXES)}
        self.log_path = folder / "up.log"
        self._args = args
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmbeddedMesh:
        command = [sys.executable, "-m", "services.cli", "up", "--port-base"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*command, str(self.ports.gateway), *self._args],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as in a terminal
            )
        try:
            wait_http_healthy(f"http://127.0.0.1:{self.ports.gateway}/healthz", timeout=90)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole group; SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
