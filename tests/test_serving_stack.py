"""The production setup itself: deploy/serve.py starts gunicorn behind Debian's nginx on
the test database (DEBUG off, collected static files), and these tests talk HTTP to it."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.db import connection

from members.services import shop_api_key_create

REPO_ROOT = Path(__file__).resolve().parent.parent
ALLOWED_ORIGIN = "https://members.shop.example"

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nginx_present() -> bool:
    return bool(shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK))


def _database_url(settings_dict: dict) -> str:
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    return f"postgres://{settings_dict['USER']}{password}@{host}:{port}/{settings_dict['NAME']}"


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _base_env(tmp: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "serving-stack-test-secret",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "DJANGO_SECURE_COOKIES": "false",
    }
    for name in ("REDIS_URL", "CACHE_URL", "WHITENOISE_USE_FINDERS"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """nginx on `port` in front of gunicorn on `app_port` (1 worker, 2 threads: few, as in
    production, so stalled clients would exhaust them), throttle counts in Redis."""
    if not _nginx_present():
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing; CI installs it (.ci/run: apt-get install nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    tmp = tmp_path_factory.mktemp("stack")
    port, app_port = _free_port(), _free_port()
    env = {
        **_base_env(tmp),
        "DATABASE_URL": _database_url(connection.settings_dict),
        "PORT": str(port),
        "GUNICORN_PORT": str(app_port),
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        "NGINX_WORKERS": "1",
        "CORS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "THROTTLE_FAILED_AUTH": "3/m",
        "CACHE_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5"),
        "CACHE_KEY_PREFIX": f"serving-test-{uuid.uuid4().hex}",
    }
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "deploy/serve.py"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health/live", process)
        yield {"port": port, "app_port": app_port, "log": tmp / "serve.log"}
    except RuntimeError:
        pytest.fail(f"make serve did not start:\n{(tmp / 'serve.log').read_text()[-3000:]}")
    finally:
        _stop(process)
        log.close()


def _get(port: int, path: str, headers: dict | None = None, method: str = "GET"):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers=headers or {}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_serve_refuses_to_start_without_the_secret_key(tmp_path):
    env = _base_env(tmp_path)
    env.pop("DJANGO_SECRET_KEY")

    result = subprocess.run(
        [sys.executable, "deploy/serve.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_admin_is_styled_with_debug_off(stack):
    status, headers, body = _get(stack["port"], "/admin/login/")
    assert status == 200
    assert headers["Server"] == "nginx"
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', body.decode())
    assert any("admin/css/base" in href for href in stylesheets), stylesheets

    for href in stylesheets:
        css_status, css_headers, css = _get(stack["port"], href)
        assert css_status == 200, href
        assert css_headers["Content-Type"].startswith("text/css")
        assert css


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_reference_no_external_host_and_their_assets_load(stack, page):
    status, _, body = _get(stack["port"], page)
    html = body.decode()

    assert status == 200
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets
    for asset in assets:
        assert _get(stack["port"], asset)[0] == 200, asset


def test_health_live_and_ready_through_nginx(stack):
    assert _get(stack["port"], "/health/live")[0] == 200

    status, _, body = _get(stack["port"], "/health/ready")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_ready_and_the_api_give_503_when_the_database_is_unreachable(tmp_path):
    port = _free_port()
    env = {**_base_env(tmp_path), "DATABASE_URL": "postgres://postgres@127.0.0.1:1/loyalty"}
    env["WHITENOISE_USE_FINDERS"] = "true"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "loyalty_engine.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health/live", process, timeout=60)

        status, _, body = _get(port, "/health/ready")
        assert status == 503
        assert json.loads(body)["failing"] == ["database", "migrations"]

        status, headers, body = _get(port, "/api/v1/program")
        assert status == 503
        assert json.loads(body)["error"]["code"] == "service_unavailable"
        assert headers["Retry-After"] == "5"
    finally:
        _stop(process)


def _preflight(port: int, path: str, origin: str):
    return _get(
        port,
        path,
        {
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        method="OPTIONS",
    )


def test_cors_preflight_from_the_allowed_origin_and_from_another(stack):
    _, headers, _ = _preflight(stack["port"], "/api/v1/me/balance", ALLOWED_ORIGIN)
    assert headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert "authorization" in headers.get("Access-Control-Allow-Headers", "")

    _, headers, _ = _preflight(stack["port"], "/api/v1/me/balance", "https://evil.example")
    assert "Access-Control-Allow-Origin" not in headers

    _, headers, _ = _preflight(stack["port"], "/api/v1/purchases", ALLOWED_ORIGIN)
    assert "Access-Control-Allow-Origin" not in headers


def test_bad_keys_get_429_with_retry_after(stack):
    # nginx appends the address it saw; a client address of its own keeps this test's
    # count apart from the others'.
    headers = {"Authorization": "Api-Key wrong.key", "X-Forwarded-For": "203.0.113.77"}
    statuses = [_get(stack["port"], "/api/v1/members/x", headers)[0] for _ in range(3)]
    assert statuses == [401, 401, 401]

    status, response_headers, body = _get(stack["port"], "/api/v1/members/x", headers)
    assert status == 429
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert int(response_headers["Retry-After"]) >= 1


def _stall(port: int, count: int) -> list[socket.socket]:
    """Clients that send their headers and a little of the body, then nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            b"POST /api/v1/purchases HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"member"'
        )
        sockets.append(sock)
    return sockets


def _answered_within(port: int, seconds: float) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/program", timeout=seconds
        ) as response:
            return response.status == 200
    except OSError:
        return False


def test_sixteen_stalled_uploads_do_not_stop_a_normal_request(stack):
    stalled = _stall(stack["port"], 16)
    try:
        started = time.monotonic()
        assert _answered_within(stack["port"], 5)
        assert time.monotonic() - started < 5
    finally:
        for sock in stalled:
            sock.close()

    # The same clients straight at gunicorn take every thread: the request hangs.
    stalled = _stall(stack["app_port"], 16)
    try:
        assert not _answered_within(stack["app_port"], 3)
    finally:
        for sock in stalled:
            sock.close()


def _chunked_post(port: int, path: str, body: bytes, key: str) -> tuple[int, dict]:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Key {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n".encode()
            + chunks
            + b"0\r\n\r\n"
        )
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if b"transfer-encoding: chunked" in head.lower():
        decoded, rest = b"", payload
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            if int(size, 16) == 0:
                break
            decoded, rest = decoded + rest[: int(size, 16)], rest[int(size, 16) + 2 :]
        payload = decoded
    return status, json.loads(payload)


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_read_through_nginx_and_by_gunicorn(stack, program):
    _, key = shop_api_key_create(shop_name="Chunked shop")

    for port, external_id in ((stack["port"], "via-nginx"), (stack["app_port"], "direct")):
        body = json.dumps({"external_id": external_id, "name": "Chunked"}).encode()
        status, payload = _chunked_post(port, "/api/v1/members", body, key)
        assert status == 201, payload
        assert payload["external_id"] == external_id


@pytest.mark.django_db(transaction=True)
def test_a_staff_user_signs_in_and_opens_the_kpi_dashboard_with_debug_off(stack):
    import http.cookiejar

    from django.contrib.auth.models import User

    User.objects.create_superuser("boss", "boss@shop.example", "a-long-test-password")
    base = f"http://127.0.0.1:{stack['port']}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": "boss",
            "password": "a-long-test-password",
            "next": "/admin/metrics/dashboard/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/login/?next=/admin/metrics/dashboard/",
        data=form,
        headers={"Referer": f"{base}/admin/login/"},
    )
    with opener.open(request, timeout=20) as response:
        page = response.read().decode()
        assert response.status == 200
        assert response.url.endswith("/admin/metrics/dashboard/")

    assert "KPI dashboard" in page
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert stylesheets and all(_get(stack["port"], href)[0] == 200 for href in stylesheets)
