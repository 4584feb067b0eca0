"""Run the benchmark stages in order and write their results into BENCHMARKS.md.

    .venv/bin/python bench/run.py            # everything (`make bench`)
    .venv/bin/python bench/run.py --quick    # small sizes, under 2 minutes (`make bench-quick`)
    .venv/bin/python bench/run.py --only api,profile

A stage is a command whose stdout is a markdown fragment (its progress goes to stderr) and
which exits 0. Each fragment goes between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
in BENCHMARKS.md, replacing what was there; everything outside the markers (the prose) is
left as it is. A stage without its markers yet is appended at the end under a heading. A
stage that fails, times out or whose script is missing leaves "not measured: <why>" in its
section, and the run goes on. BENCHMARKS.md is rewritten after every stage, so an
interrupted run keeps what it measured.

A quick run writes `bench/out/BENCHMARKS-quick.md` (not committed) unless `--output` says
otherwise, so trying the harness never replaces the full run's figures.
"""

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FULL_OUTPUT = REPO_ROOT / "BENCHMARKS.md"
QUICK_OUTPUT = REPO_ROOT / "bench" / "out" / "BENCHMARKS-quick.md"
PYTHON = sys.executable


@dataclass
class Stage:
    name: str
    title: str
    script: str
    args: list[str] = field(default_factory=list)
    # Seconds before the stage is stopped and recorded as not measured.
    timeout_full: int = 3 * 3600
    timeout_quick: int = 120

    def command(self, *, quick: bool) -> list[str]:
        return [PYTHON, self.script, *self.args, "--markdown", *(["--quick"] if quick else [])]


STAGES = [
    Stage("machine", "Machine and versions", "bench/machine.py", timeout_quick=30),
    Stage(
        "api",
        "API throughput, against PostgreSQL running the same SQL",
        "bench/api.py",
        ["throughput"],
        timeout_quick=150,
    ),
    Stage("profile", "Profile of the earn and redeem paths", "bench/api.py", ["profile"]),
    Stage(
        "proxy",
        "Earn through nginx against straight gunicorn",
        "bench/api.py",
        ["proxy"],
        timeout_quick=150,
    ),
    Stage("import", "History import", "bench/import_history.py"),
    Stage("nightly", "Nightly expiry: time and memory", "bench/nightly_rss.py"),
    Stage("kpis", "KPI recompute: time and memory", "bench/kpis.py"),
    Stage(
        "ledger_words",
        "Ledger descriptions rendered at read time (`/me/transactions`, 50 entries)",
        "bench/ledger_words.py",
        timeout_quick=90,
    ),
    Stage("predictions", "Predictions fit and scoring: time and memory", "bench/predictions.py"),
    Stage("webhooks", "Webhook delivery: outbox to receiver", "bench/webhooks.py"),
]


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def section_replace(document: str, name: str, fragment: str, *, title: str) -> str:
    """The document with the stage's section holding `fragment`; a section not there yet is
    appended at the end under `## title`. Text outside the markers is kept byte for byte."""
    start, end = markers(name)
    body = f"{start}\n{fragment.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: body, document, count=1)
    separator = (
        ""
        if not document or document.endswith("\n\n")
        else ("\n" if document.endswith("\n") else "\n\n")
    )
    return f"{document}{separator}## {title}\n\n{body}\n"


@dataclass
class Outcome:
    fragment: str
    seconds: float
    measured: bool


def stage_run(stage: Stage, *, quick: bool, root: Path = REPO_ROOT) -> Outcome:
    """Run one stage; its stderr goes on to ours as it comes (the last lines are kept to
    say why it failed)."""
    script = root / stage.script
    started = time.monotonic()
    if not script.is_file():
        return Outcome(f"not measured: script missing (`{stage.script}`).", 0.0, False)
    timeout = stage.timeout_quick if quick else stage.timeout_full
    command = stage.command(quick=quick)
    print(f"== {stage.name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    process = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    tail: collections.deque[str] = collections.deque(maxlen=5)

    def relay() -> None:
        for line in process.stderr:
            sys.stderr.write(line)
            if line.strip():
                tail.append(line.strip())

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()
    timed_out = threading.Event()

    def stop() -> None:
        # SIGTERM first, so the stage can stop what it started (servers, workers).
        timed_out.set()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        stdout = process.stdout.read()
        process.wait()
    finally:
        timer.cancel()
    relay_thread.join(timeout=5)
    seconds = time.monotonic() - started
    if timed_out.is_set():
        return Outcome(f"not measured: timed out after {timeout} s.", seconds, False)
    if process.returncode != 0:
        why = tail[-1] if tail else "no output on stderr"
        return Outcome(
            f"not measured: `{stage.script}` exited {process.returncode}: {why[:300]}",
            seconds,
            False,
        )
    if not stdout.strip():
        return Outcome(f"not measured: `{stage.script}` printed nothing.", seconds, False)
    return Outcome(stdout, seconds, True)


def footer(outcome: Outcome, *, quick: bool) -> str:
    load = os.getloadavg()[0]
    mode = "quick run" if quick else "full run"
    return (
        f"\n\n*{mode}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; stage took "
        f"{outcome.seconds:.0f} s; load average (1 min) at its end {load:.1f}.*"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated stage names, in the standard order")
    parser.add_argument(
        "--output", help=f"default {FULL_OUTPUT.name}; with --quick, bench/out/{QUICK_OUTPUT.name}"
    )
    args = parser.parse_args(argv)
    names = [stage.name for stage in STAGES]
    chosen = STAGES
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - set(names)
        if unknown:
            parser.error(f"unknown stages {sorted(unknown)}; known: {', '.join(names)}")
        chosen = [stage for stage in STAGES if stage.name in wanted]

    output = Path(args.output) if args.output else (QUICK_OUTPUT if args.quick else FULL_OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for stage in chosen:
        outcome = stage_run(stage, quick=args.quick)
        fragment = outcome.fragment.strip() + footer(outcome, quick=args.quick)
        document = output.read_text() if output.exists() else "# Benchmarks\n"
        output.write_text(section_replace(document, stage.name, fragment, title=stage.title))
        state = "measured" if outcome.measured else outcome.fragment.strip()
        print(f"== {stage.name}: {state} ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
    print(f"== done in {time.monotonic() - started:.0f} s: {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
