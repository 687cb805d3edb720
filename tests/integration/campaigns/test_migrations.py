"""Migrations that move data: rows written by an older version read right after upgrade."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from meshkit.db import make_engine, migrate
from services.campaigns.bootstrap import MIGRATIONS, VERSION_TABLE
from tests.support.stores import fresh_postgres


def test_old_in_doubt_rows_become_unconfirmed_and_real_sends_stay_sent() -> None:
    with fresh_postgres("campaigns_migration") as url:
        engine = make_engine(url)
        migrate(engine, MIGRATIONS, VERSION_TABLE, revision="0001")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO campaigns (id, name, owner_component, purpose, subject_template,"
                    " body_template, audience_kind, audience_ids, status, created_by, created_at)"
                    " VALUES ('c', 'n', 'sciences', 'newsletter', 's', 'b', 'ids', '[]', 'done',"
                    " 'me', now())"
                )
            )
            for contact, rule in (("a", "smtp:unconfirmed"), ("b", "consent:consent_given")):
                connection.execute(
                    text(
                        "INSERT INTO deliveries (campaign_id, contact_id, outcome, rule)"
                        " VALUES ('c', :contact, 'sent', :rule)"
                    ),
                    {"contact": contact, "rule": rule},
                )
        migrate(engine, MIGRATIONS, VERSION_TABLE)
        with engine.connect() as connection:
            rows = dict(
                connection.execute(
                    text("SELECT contact_id, outcome || '/' || rule FROM deliveries")
                ).all()
            )
        engine.dispose()
    assert rows == {"a": "unconfirmed/smtp:worker_lost", "b": "sent/consent:consent_given"}


def test_0004_keeps_scheduler_runs_as_job_runs_and_marks_old_rows_marketing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL and on SQLite (the embedded mode, whose ALTER goes through a copy)."""
    with fresh_postgres("campaigns_migration_0004") as pg:
        for url in (pg, f"sqlite:///{tmp_path / 'campaigns.db'}"):
            engine = make_engine(url)
            migrate(engine, MIGRATIONS, VERSION_TABLE, revision="0003")
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO campaigns (id, name, owner_component, purpose,"
                        " subject_template, body_template, audience_kind, audience_ids, status,"
                        " created_by, created_at) VALUES (:id, 'n', 'sciences', 'newsletter',"
                        " 's', 'b', 'ids', '[]', 'done', 'me', CURRENT_TIMESTAMP)"
                    ),
                    {"id": CAMPAIGN},
                )
                connection.execute(
                    text(
                        "INSERT INTO deliveries (campaign_id, contact_id, outcome, rule)"
                        " VALUES (:id, 'a', 'sent', 'consent:consent_given')"
                    ),
                    {"id": CAMPAIGN},
                )
                connection.execute(
                    text(
                        "INSERT INTO scheduler_runs (run_key, campaign_id, ran_by, ran_at)"
                        " VALUES (:key, :id, 'r1', CURRENT_TIMESTAMP)"
                    ),
                    {"key": f"start:{CAMPAIGN}:2025-01-01T00:00:00+00:00", "id": CAMPAIGN},
                )
            migrate(engine, MIGRATIONS, VERSION_TABLE)
            with engine.connect() as connection:
                runs = connection.execute(
                    text("SELECT job, run_key, ran_by FROM campaigns_job_runs")
                ).all()
                classes = connection.execute(
                    text("SELECT contact_id, message_class FROM deliveries")
                ).all()
            downgrade(engine, "0003")  # and back
            with engine.connect() as connection:
                back = connection.execute(text("SELECT run_key FROM scheduler_runs")).scalars()
                assert list(back) == [f"start:{CAMPAIGN}:2025-01-01T00:00:00+00:00"]
            engine.dispose()
            assert [tuple(r) for r in runs] == [
                ("campaign-start", f"{CAMPAIGN}:2025-01-01T00:00:00+00:00", "r1")
            ]
            assert [tuple(r) for r in classes] == [("a", "marketing")]


CAMPAIGN = "0b6d2c1e-7a9f-4e0b-9c1d-2f3e4a5b6c7d"


def downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["version_table"] = VERSION_TABLE
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
