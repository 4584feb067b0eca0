"""`make serve`: the production setup on this machine.

DJANGO_DEBUG is off; DJANGO_SECRET_KEY, DATABASE_URL and REDIS_URL come from the
environment. Migrations, then collectstatic, then gunicorn on a local port behind nginx
(Debian's package) listening on PORT (default 8080). Both run in the foreground; Ctrl-C or
SIGTERM stops both, and if one of them dies the other is stopped too.

    DJANGO_SECRET_KEY=... DATABASE_URL=postgres://... python deploy/serve.py

Options: --no-setup skips migrate and collectstatic (already done by this release).
Environment: PORT, GUNICORN_WORKERS (2), GUNICORN_THREADS (4), NGINX_WORKERS (2),
NGINX_ACCESS_LOG (off; a path or /dev/stdout to log), GUNICORN_PORT (a free one),
DJANGO_ALLOWED_HOSTS.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NGINX_DIR = Path(__file__).resolve().parent / "nginx"
MIME_TYPES = ("/etc/nginx/mime.types", "/usr/local/etc/nginx/mime.types")


class ServeError(Exception):
    """A sentence for the operator, printed instead of a traceback."""


def render(template: str, values: dict[str, str]) -> str:
    """Fill in ${NAME} as envsubst does for the named variables; nginx's own $name stay."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise ServeError(f"The nginx template needs {name}, which serve.py does not set.")
        return values[name]

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", value, template)


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise ServeError(
            "nginx is not installed; `make serve` installs it (apt-get install nginx)."
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_config(runtime: Path, *, listen: str, upstream: str) -> Path:
    """Write nginx.conf and loyalty.conf into `runtime` and return nginx.conf's path."""
    mime_types = next((p for p in MIME_TYPES if Path(p).is_file()), None)
    if mime_types is None:
        raise ServeError("nginx's mime.types was not found; is the nginx package complete?")
    values = {
        "LOYALTY_RUNTIME": str(runtime),
        "LOYALTY_LISTEN": listen,
        "LOYALTY_UPSTREAM": upstream,
        "LOYALTY_NGINX_WORKERS": os.environ.get("NGINX_WORKERS", "2"),
        "LOYALTY_MIME_TYPES": mime_types,
        "LOYALTY_ACCESS_LOG": os.environ.get("NGINX_ACCESS_LOG", "off"),
    }
    (runtime / "loyalty.conf").write_text(
        render((NGINX_DIR / "loyalty.conf.template").read_text(), values)
    )
    conf = runtime / "nginx.conf"
    conf.write_text(render((NGINX_DIR / "standalone.conf.template").read_text(), values))
    return conf


def wait_for_port(port: int, process: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(f"{name} exited with status {process.returncode} while starting.")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise ServeError(f"{name} did not open port {port} within {timeout:.0f} seconds.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-setup", action="store_true", help="skip migrate and collectstatic")
    args = parser.parse_args(argv)

    env = dict(os.environ, DJANGO_DEBUG="false")
    if not env.get("DJANGO_SECRET_KEY"):
        raise ServeError(
            "DJANGO_SECRET_KEY is not set: the production setup refuses to start without it. "
            "Set it to a long random value, e.g. "
            "DJANGO_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    env.pop("WHITENOISE_USE_FINDERS", None)
    python = sys.executable
    port = env.get("PORT", "8080")
    if not port.isdigit():
        raise ServeError(f"PORT must be a port number, not {port!r}.")
    nginx = nginx_binary()

    if not args.no_setup:
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"]):
            if subprocess.run([python, "manage.py", *command], cwd=REPO_ROOT, env=env).returncode:
                raise ServeError(f"`manage.py {' '.join(command)}` failed (see above).")

    app_port = int(env.get("GUNICORN_PORT") or free_port())
    runtime = Path(tempfile.mkdtemp(prefix="loyalty-nginx-"))
    # nginx started by root runs its workers as nobody, who must reach the temp files.
    runtime.chmod(0o755)
    conf = nginx_config(runtime, listen=port, upstream=f"127.0.0.1:{app_port}")

    processes: list[tuple[str, subprocess.Popen]] = []

    def stop(*_):
        for _name, process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for _name, process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(runtime, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        gunicorn = subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "loyalty_engine.wsgi:application",
                "--bind",
                f"127.0.0.1:{app_port}",
                "--workers",
                env.get("GUNICORN_WORKERS", "2"),
                "--threads",
                env.get("GUNICORN_THREADS", "4"),
                "--forwarded-allow-ips",
                "127.0.0.1",
                "--access-logfile",
                "-",
            ],
            cwd=REPO_ROOT,
            env=env,
        )
        processes.append(("gunicorn", gunicorn))
        wait_for_port(app_port, gunicorn, "gunicorn")
        test = subprocess.run(
            [nginx, "-t", "-q", "-p", str(runtime), "-c", str(conf), "-e", "stderr"],
            capture_output=True,
            text=True,
        )
        if test.returncode:
            raise ServeError(f"nginx refused its configuration:\n{test.stderr}")
        server = subprocess.Popen([nginx, "-p", str(runtime), "-c", str(conf), "-e", "stderr"])
        processes.append(("nginx", server))
        wait_for_port(int(port), server, "nginx")
        print(
            f"Serving http://127.0.0.1:{port}/ (nginx -> gunicorn on 127.0.0.1:{app_port}); "
            f"health: /health/live, /health/ready",
            flush=True,
        )
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    raise ServeError(f"{name} exited with status {process.returncode}.")
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ServeError as error:
        print(f"make serve: {error}", file=sys.stderr)
        sys.exit(2)
