"""The machine and the versions every figure of BENCHMARKS.md was measured with (the
`machine` stage of bench/run.py, run first, so its load average is the one at the start).

    .venv/bin/python bench/machine.py --markdown
"""

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, int]:
    """The fields of /proc/meminfo in kB."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        if value.split():
            found[name] = int(value.split()[0])
    return found


def cpu_model(path: Path = Path("/proc/cpuinfo")) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"not available ({error.__class__.__name__})"
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def postgres_version(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            settings = dict(
                conn.execute(
                    "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'work_mem', 'synchronous_commit', 'max_connections')"
                ).fetchall()
            )
    except Exception as error:  # noqa: BLE001 - a header line, never a failed run
        return f"not reachable ({error.__class__.__name__})"
    shown = ", ".join(f"`{k}` {v}" for k, v in sorted(settings.items()))
    return f"{version} ({shown})"


def markdown(server_url: str) -> str:
    memory = meminfo()
    load = os.getloadavg()
    rows = [
        ("date", f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"),
        ("cores", str(os.cpu_count())),
        ("CPU", cpu_model()),
        (
            "memory",
            f"{memory.get('MemTotal', 0):,} kB total, "
            f"{memory.get('MemAvailable', 0):,} kB available at the start",
        ),
        ("kernel", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("load average at the start (1, 5, 15 min)", ", ".join(f"{x:.2f}" for x in load)),
        ("Python", platform.python_version()),
        ("Django", package_version("django")),
        ("Django REST framework", package_version("djangorestframework")),
        ("psycopg", package_version("psycopg")),
        ("gunicorn", package_version("gunicorn")),
        ("py-spy", package_version("py-spy")),
        ("PostgreSQL server", postgres_version(server_url)),
        ("wrk", first_line(["wrk", "--version"])),
        ("pgbench", first_line(["pgbench", "--version"])),
    ]
    lines = ["| | |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
    busy = load[0] > 0.5 * (os.cpu_count() or 1)
    if busy:
        lines.append("")
        lines.append(
            "The machine was busy when the run started (load average above half the cores): "
            "the figures below are provisional."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="(the only output format)")
    parser.add_argument("--quick", action="store_true", help="(the same in both modes)")
    parser.add_argument(
        "--server-url", default=os.environ.get("BENCH_SERVER_URL", DEFAULT_SERVER_URL)
    )
    args = parser.parse_args()
    print(markdown(args.server_url))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
