"""The benchmarks' databases: a copy of a migrated template instead of a fresh migrate.

Migrating an empty database takes about 20 s here, longer than most quick stages' own
work; a template migrated once and copied (`CREATE DATABASE ... TEMPLATE`, about a second)
is kept between runs while the migrations stay the same (its comment holds their digest).
"""

import subprocess
import sys
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "loyalty_bench_template"


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )


def migrations_digest() -> str:
    """What the migrated schema depends on: our migrations and the versions of the apps
    that bring theirs."""
    import hashlib
    from importlib import metadata

    digest = hashlib.sha256()
    apps = ("members", "rewards", "metrics", "loyalty_engine")
    for path in sorted(p for app in apps for p in REPO_ROOT.glob(f"{app}/**/migrations/*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    for package in (
        "django",
        "djangorestframework",
        "djangorestframework-api-key",
        "django-celery-beat",
        "django-simple-history",
    ):
        digest.update(f"{package}=={metadata.version(package)}".encode())
    return digest.hexdigest()


def database_from_template(url: str, env: dict[str, str]) -> bool:
    """Create the database as a copy of `loyalty_bench_template`, a migrated empty database
    shared by every stage and kept between runs while the migrations stay the same (its
    comment holds their digest): migrating takes longer than a quick stage's whole load.
    True if it was migrated now."""
    base, name = url.rsplit("/", 1)
    template = TEMPLATE
    digest = migrations_digest()
    migrated = False
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        found = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [template],
        ).fetchone()
        if not found or found[0] != digest:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}"')
            migrate({**env, "DATABASE_URL": f"{base}/{template}"})
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{digest}'")
            migrated = True
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return migrated


def settle(conn: psycopg.Connection) -> None:
    """After a bulk fill: statistics and visibility for the planner (VACUUM ANALYZE), and
    the fill's dirty pages written out now (CHECKPOINT), not during whichever measurement
    comes first. Seen on 2026-12-04: the first earn after a fill ran at 441 requests/s
    and the same code ten minutes later at 650-700. A role that may not CHECKPOINT
    (PostgreSQL 15: superuser or pg_checkpoint) only skips that part."""
    conn.execute("VACUUM ANALYZE")
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("[bench] CHECKPOINT not allowed for this role; skipped", file=sys.stderr)
