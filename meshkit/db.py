"""Database engines, sessions and migrations, the same way for every service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

# PostgreSQL connections are replaced after this long, before the server or a pooler
# (PgBouncer's server_lifetime is an hour by default) closes them under the pool.
POOL_RECYCLE_SECONDS = 1800


def make_engine(url: str) -> Engine:
    """An engine with settings that suit the backend (SQLite files or PostgreSQL)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # hide_parameters: a logged database error must not carry contact data.
    # No pool_pre_ping: its round trip on every checkout cost about a tenth of a contact
    # read's CPU. A connection the server dropped anyway (restart, failover) fails at its
    # first statement; SQLAlchemy then invalidates the whole pool, and `Database.run`
    # runs its work again once on a fresh connection.
    return create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_recycle=POOL_RECYCLE_SECONDS,
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """One engine and its session factory; `transaction()` commits or rolls back as a whole."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def statements(self) -> Iterator[Session]:
        """A session outside any transaction: each statement commits, and sees commits, alone.

        For reads that need no snapshot across statements: it spares the BEGIN and
        COMMIT round trips of `transaction()`. Nothing is rolled back on error.
        """
        with self.engine.connect() as connection:
            # Reset to the engine's isolation level when the connection is checked in.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            with Session(connection) as session:
                yield session

    def run(self, work: Callable[[Session], T], autocommit: bool = False) -> T:
        """`work` in one transaction (or `statements()`), once more if the connection was dead.

        For work that may run twice: reads, and writes whose repetition is harmless
        (the connection can drop during COMMIT, leaving its outcome unknown).
        """
        scope = self.statements if autocommit else self.transaction
        try:
            with scope() as session:
                return work(session)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        with scope() as session:
            return work(session)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"


def migrate(
    engine: Engine, migrations_dir: Path, version_table: str, revision: str = "head"
) -> None:
    """Upgrades the schema to `revision` (head); on PostgreSQL, one replica at a time."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["version_table"] = version_table
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": version_table}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def migrate_url(url: str, migrations_dir: Path, version_table: str) -> None:
    """`crm migrate <service>`: upgrades the database at `url`, then lets it go."""
    engine = make_engine(url)
    try:
        migrate(engine, migrations_dir, version_table)
    finally:
        engine.dispose()
