"""deploy/postgres/init.sql: each service's role owns its database, and only that one."""

from __future__ import annotations

import argparse
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from services import cli
from tests.support.stores import ADMIN_URL

ROOT = Path(__file__).resolve().parents[3]
INIT = ROOT / "deploy" / "postgres" / "init.sql"
SERVICES = ("contacts", "consent", "campaigns")
ADMIN = make_url(ADMIN_URL)


@dataclass(frozen=True)
class Roles:
    prefix: str
    passwords: dict[str, str]

    def name(self, service: str) -> str:
        return f"{self.prefix}{service}"

    def url(self, service: str, database: str | None = None) -> str:
        """SQLAlchemy URL of `service`'s role on its own (or another) database."""
        return ADMIN.set(
            username=self.name(service),
            password=self.passwords[service],
            database=self.name(database or service),
        ).render_as_string(hide_password=False)

    def dsn(self, service: str, database: str | None = None) -> str:
        return self.url(service, database).replace("postgresql+psycopg://", "postgresql://")


def _admin(database: str = "postgres") -> psycopg.Connection:
    url = ADMIN.set(database=database).render_as_string(hide_password=False)
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _apply(roles: Roles, secrets: Path) -> None:
    """The real file, through psql (as the postgres image runs it), names prefixed."""
    subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"prefix={roles.prefix}",
            "-v",
            f"secrets_dir={secrets}",
            "-h",
            ADMIN.host or "127.0.0.1",
            "-p",
            str(ADMIN.port or 5432),
            "-U",
            ADMIN.username or "postgres",
            "-d",
            ADMIN.database or "postgres",
            "-f",
            str(INIT),
        ],
        check=True,
        capture_output=True,
        env={"PGPASSWORD": ADMIN.password or "", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Roles]:
    secrets = tmp_path_factory.mktemp("secrets")
    passwords = {s: uuid.uuid4().hex for s in SERVICES}
    for service, password in passwords.items():
        (secrets / f"{service}-db-password").write_text(password + "\n")
    roles = Roles(f"crm_test_roles_{uuid.uuid4().hex[:8]}_", passwords)
    try:
        _apply(roles, secrets)
        yield roles
    finally:
        with _admin() as admin:
            for service in SERVICES:
                admin.execute(f'DROP DATABASE IF EXISTS "{roles.name(service)}" WITH (FORCE)')
            for service in SERVICES:
                admin.execute(f'DROP ROLE IF EXISTS "{roles.name(service)}"')


@pytest.fixture(scope="module")
def migrated(
    roles: Roles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[str]]]:
    """`crm migrate <service>` as each service's own role; the tables each one made."""
    patch = pytest.MonkeyPatch()
    patch.setenv("CRM_HOME", str(tmp_path_factory.mktemp("home")))
    tables: dict[str, list[str]] = {}
    try:
        for service in SERVICES:
            patch.setenv(f"{service.upper()}_DATABASE_URL", roles.url(service))
            cli.migrate(argparse.Namespace(service=service))
            with _admin(roles.name(service)) as admin:
                rows = admin.execute(
                    "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            assert rows, f"{service}: the migration made no table"
            assert {owner for _, owner in rows} == {roles.name(service)}
            tables[service] = sorted(name for name, _ in rows)
        yield tables
    finally:
        patch.undo()


def test_each_role_owns_only_its_database_and_has_a_password(roles: Roles) -> None:
    with _admin() as admin:
        for service in SERVICES:
            owner, public_connect = admin.execute(
                "SELECT pg_get_userbyid(datdba), has_database_privilege('public', oid, 'CONNECT')"
                " FROM pg_database WHERE datname = %s",
                (roles.name(service),),
            ).fetchone() or (None, None)
            assert owner == roles.name(service)
            assert public_connect is False
            super_, createdb, has_password = admin.execute(
                "SELECT rolsuper, rolcreatedb, rolpassword IS NOT NULL FROM pg_authid"
                " WHERE rolname = %s",
                (roles.name(service),),
            ).fetchone() or (None, None, None)
            assert (super_, createdb, has_password) == (False, False, True)


@pytest.mark.parametrize(("service", "other"), [("contacts", "consent"), ("campaigns", "contacts")])
def test_a_service_reads_its_own_tables_and_cannot_connect_to_another_database(
    roles: Roles, migrated: dict[str, list[str]], service: str, other: str
) -> None:
    with psycopg.connect(roles.dsn(service)) as own:
        for table in migrated[service]:
            own.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(roles.dsn(service, database=other)).close()


def test_even_with_connect_granted_by_mistake_another_service_tables_stay_closed(
    roles: Roles, migrated: dict[str, list[str]]
) -> None:
    consent_db = roles.name("consent")
    with _admin() as admin:
        admin.execute(f'GRANT CONNECT ON DATABASE "{consent_db}" TO "{roles.name("contacts")}"')
    try:
        with psycopg.connect(roles.dsn("contacts", database="consent")) as intruder:
            for table in migrated["consent"]:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    intruder.execute(f'SELECT * FROM public."{table}" LIMIT 1')
                intruder.rollback()
    finally:
        with _admin() as admin:
            admin.execute(
                f'REVOKE CONNECT ON DATABASE "{consent_db}" FROM "{roles.name("contacts")}"'
            )
