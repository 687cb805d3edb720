"""Consent's own suppression list, called in process: for use cases tested without processes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from meshkit.db import Database, make_engine
from meshkit.identity import Principal
from services.consent import proofs
from services.consent.bootstrap import migrate_schema
from services.consent.suppression import Reason

SERVICE = Principal("service:contacts", roles=frozenset({"service"}))
SECRET = b"in-process-suppression-secret"


class LocalSuppressionList:
    """The consent service's suppression use cases over a SQLite consent database."""

    def __init__(self, folder: Path):
        self._db = Database(make_engine(f"sqlite:///{folder / 'consent.db'}"))
        migrate_schema(self._db.engine)

    def add(self, *addresses: str) -> None:
        proofs.suppress(self._db, SECRET, SERVICE, addresses, Reason.MANUAL)

    def suppressed(self, addresses: Sequence[str]) -> set[str]:
        found = proofs.filter_suppressed(self._db, SECRET, SERVICE, addresses)
        return {addresses[index] for index in found}

    def close(self) -> None:
        self._db.engine.dispose()
