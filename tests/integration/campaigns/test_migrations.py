"""Migrations that move data: rows written by an older version read right after upgrade."""

from __future__ import annotations

from sqlalchemy import text

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
