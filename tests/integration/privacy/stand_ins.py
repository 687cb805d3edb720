"""`python -m tests.integration.privacy.stand_ins DIR`: `crm serve consent` with stand-ins for
the parts written in parallel (campaigns' ExportContact/EraseContact, the suppression list).

Each stand-in appends what it was asked to DIR/<part>.jsonl (addresses as SHA-256, never in
clear) and does not answer while DIR/<part>.down exists, so a test can take it down and
bring it back. Everything else is the real consent service.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshkit.errors import Unavailable
from meshkit.logs import configure_logging
from services.consent import bootstrap


class FilePart:
    def __init__(self, folder: Path, name: str):
        self._log = folder / f"{name}.jsonl"
        self._down = folder / f"{name}.down"

    def _answer(self, call: dict[str, Any]) -> None:
        if self._down.exists():
            raise Unavailable("down")
        with self._log.open("a") as log:
            log.write(json.dumps(call) + "\n")

    def export(self, contact_id: str) -> dict[str, Any]:
        self._answer({"call": "export", "contact_id": contact_id})
        return {"deliveries": []}

    def erase(self, contact_id: str) -> None:
        self._answer({"call": "erase", "contact_id": contact_id})

    def suppress(self, addresses: Sequence[str], reason: str) -> None:
        digests = sorted(hashlib.sha256(a.encode()).hexdigest() for a in addresses)
        self._answer({"call": "suppress", "addresses": digests, "reason": reason})


def main() -> None:
    folder = Path(sys.argv[1])
    configure_logging("consent")
    bootstrap.main(
        campaigns=FilePart(folder, "campaigns"), suppression=FilePart(folder, "suppression")
    )


if __name__ == "__main__":
    main()
