"""PostgreSQL computes the same contact hashes and power sums as meshkit.disclosure.sketch,
so the contacts service can build a cell's sketch in its GROUPING SETS query."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

from meshkit.disclosure import contact_hash, sketch_of, sql_hash, sql_power_sum
from tests.support.stores import fresh_postgres

SECRET = "sql-secret-for-tests"
K = 5


def test_sql_hash_and_power_sums_agree_with_python() -> None:
    contacts = [str(uuid.UUID(int=i * 7919 + 13)) for i in range(200)]
    # about half the digest prefixes have their top bit set: bit(32)::bigint keeps them unsigned
    with fresh_postgres("sketch") as url:
        engine = create_engine(url)
        try:
            with engine.begin() as db:
                db.execute(text("CREATE TABLE c (id uuid PRIMARY KEY)"))
                db.execute(
                    text("INSERT INTO c VALUES (CAST(:id AS uuid))"), [{"id": c} for c in contacts]
                )
                hashes: dict[str, int] = dict(
                    db.execute(
                        text(f"SELECT id::text, {sql_hash('secret', 'id')} FROM c"),
                        {"secret": SECRET},
                    ).all()
                )
                sums = db.execute(
                    text(
                        "SELECT count(*), "
                        + ", ".join(
                            sql_power_sum(sql_hash(":secret", "id"), j) for j in range(1, K + 2)
                        )
                        + " FROM c"
                    ),
                    {"secret": SECRET},
                ).one()
        finally:
            engine.dispose()
    assert hashes == {c: contact_hash(SECRET, c) for c in contacts}
    assert tuple(sums) == (len(contacts), *sketch_of(SECRET, contacts, K).sums)
