"""Where one period's KPI recompute spends PostgreSQL's time: the CPU seconds of the
recompute's backend per query, read from /proc, with parallel query off so that all the
work is in that one process. CPU seconds barely move with the machine's load, unlike wall
time, so two versions of the queries can be compared on a busy machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_kpis_1000000_10000000 \\
        .venv/bin/python bench/kpis_profile.py --granularity month --day 2025-06-15

Run it on the same machine as PostgreSQL (it reads the backend's /proc/<pid>/stat).
"""

import argparse
import os
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")


def backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--granularity", default="month")
    parser.add_argument("--day", default="2025-06-15", type=date.fromisoformat)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from metrics.periods import period_containing
    from metrics.services import kpi_period_recompute

    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    costs = []

    def measure(execute, sql, params, many, context):
        before = backend_cpu_seconds(pid)
        try:
            return execute(sql, params, many, context)
        finally:
            costs.append((backend_cpu_seconds(pid) - before, " ".join(sql.split())[:110]))

    with connection.execute_wrapper(measure):
        kpi_period_recompute(period=period_containing(args.granularity, args.day))
    for seconds, sql in sorted(costs, reverse=True)[:10]:
        print(f"{seconds:6.1f} s  {sql}")
    print(f"{sum(seconds for seconds, _ in costs):6.1f} s  in all, {len(costs)} statements")


if __name__ == "__main__":
    main()
