# ruff: noqa: E501  (the pgbench scripts are the issue's, one statement per line)
"""The least SQL an earn and a redeem need (issue 18), as pgbench scripts on tables of
their own: the reference the API is measured against beside its own recorded statements
(bench/api.py `throughput`).

The earn is the issue's script word for word: lock the member, insert a ledger row,
insert a lot, update the balance, in one transaction. The redeem: lock the member, read
its open lots (the soonest to expire), update one lot, insert a ledger row and a lot
movement, update the balance. Each member starts with one lot big enough for every
redeem of a run, so no transaction finds nothing to spend.

    .venv/bin/python bench/minimal_sql.py [--members N] [--database-url URL]

creates and fills the database and prints the two scripts' paths.
"""

import argparse
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.databases import settle  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_minimal"
STARTING_POINTS = 1_000_000

SCHEMA = """
CREATE TABLE member (id bigint PRIMARY KEY, balance bigint NOT NULL, lifetime bigint NOT NULL);
CREATE TABLE ledger (
    id bigserial PRIMARY KEY,
    member_id bigint REFERENCES member,
    delta bigint,
    kind text,
    ref text,
    idem text UNIQUE,
    created_at timestamptz DEFAULT now()
);
CREATE INDEX ledger_member_created ON ledger (member_id, created_at);
CREATE TABLE lot (
    id bigserial PRIMARY KEY,
    member_id bigint REFERENCES member,
    amount bigint,
    remaining bigint,
    expires_at timestamptz
);
CREATE INDEX lot_member_open ON lot (member_id, expires_at) WHERE remaining > 0;
CREATE TABLE lot_movement (
    id bigserial PRIMARY KEY,
    lot_id bigint REFERENCES lot,
    ledger_id bigint REFERENCES ledger,
    amount bigint
);
CREATE INDEX lot_movement_lot ON lot_movement (lot_id);
CREATE INDEX lot_movement_ledger ON lot_movement (ledger_id)
"""

FILL = """
INSERT INTO member (id, balance, lifetime)
    SELECT n, %(points)s, %(points)s FROM generate_series(1, %(members)s) AS n;
INSERT INTO ledger (member_id, delta, kind, ref, idem)
    SELECT n, %(points)s, 'bonus', 'start', 'start-' || n FROM generate_series(1, %(members)s) AS n;
INSERT INTO lot (member_id, amount, remaining, expires_at)
    SELECT n, %(points)s, %(points)s, now() + interval '180 days'
    FROM generate_series(1, %(members)s) AS n
"""

# The script; the member range comes from pgbench's -D member_min/member_max.
EARN = r"""\set mid random(:member_min, :member_max)
\set pts random(1, 500)
BEGIN;
SELECT balance FROM member WHERE id = :mid FOR UPDATE;
INSERT INTO ledger(member_id, delta, kind, ref, idem) VALUES (:mid, :pts, 'earn', 'order', md5(random()::text || clock_timestamp()::text));
INSERT INTO lot(member_id, amount, remaining, expires_at) VALUES (:mid, :pts, :pts, now() + interval '365 days');
UPDATE member SET balance = balance + :pts, lifetime = lifetime + :pts WHERE id = :mid;
COMMIT;
"""

REDEEM = r"""\set mid random(:member_min, :member_max)
\set pts random(1, 50)
BEGIN;
SELECT balance FROM member WHERE id = :mid FOR UPDATE;
SELECT id AS lot_id, remaining FROM lot WHERE member_id = :mid AND remaining > 0 ORDER BY expires_at LIMIT 1 \gset
UPDATE lot SET remaining = remaining - :pts WHERE id = :lot_id;
INSERT INTO ledger(member_id, delta, kind, ref, idem) VALUES (:mid, -:pts, 'redeem', 'reward', md5(random()::text || clock_timestamp()::text)) RETURNING id AS entry_id \gset
INSERT INTO lot_movement(lot_id, ledger_id, amount) VALUES (:lot_id, :entry_id, -:pts);
UPDATE member SET balance = balance - :pts WHERE id = :mid;
COMMIT;
"""


def database_prepare(url: str, *, members: int) -> None:
    """A new database at `url` with the minimal tables and `members` members, each with
    its starting entry and lot, vacuumed and analyzed."""
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in SCHEMA.split(";\n"):
            conn.execute(statement)
        for statement in FILL.split(";\n"):
            conn.execute(
                statement.replace("%(points)s", str(STARTING_POINTS)).replace(
                    "%(members)s", str(members)
                )
            )
        settle(conn)


def scripts_write(directory: Path) -> dict[str, Path]:
    paths = {}
    for name, text in (("earn", EARN), ("redeem", REDEEM)):
        paths[name] = directory / f"{name}.minimal.pgbench.sql"
        paths[name].write_text(text)
    return paths


def statements(script: str) -> int:
    """The SQL statements of a script, BEGIN and COMMIT included."""
    return sum(1 for line in script.splitlines() if line and not line.startswith("\\"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--directory", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    print(f"filling {args.members:,} members into {args.database_url}", file=sys.stderr)
    database_prepare(args.database_url, members=args.members)
    args.directory.mkdir(parents=True, exist_ok=True)
    for name, path in scripts_write(args.directory).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
