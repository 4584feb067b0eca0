"""Deployment files and the settings they rely on.

docker-compose.yml is checked with `docker-compose config`, which validates and interpolates
the file without a Docker engine. Settings are loaded in subprocesses so each case starts
from its own environment.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # installed with drf-spectacular, which needs it

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "beat")


def _docker_compose() -> str:
    # Called from the test body, not a fixture, so a missing binary in CI is a failed test.
    path = shutil.which("docker-compose")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "docker-compose is not on PATH, so docker-compose.yml cannot be validated; "
                "CI must install it (.ci/run does: apt-get install docker-compose)."
            )
        pytest.skip("docker-compose is not on PATH (apt-get install docker-compose)")
    return path


@pytest.fixture
def empty_env_file(tmp_path) -> Path:
    # An untracked .env next to docker-compose.yml would otherwise supply the secrets.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return env_file


def _env(**overrides: str | None) -> dict[str, str]:
    """os.environ with overrides applied; None removes the variable."""
    env = dict(os.environ)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _compose(env_file: Path, *args: str, **env: str | None):
    return subprocess.run(
        [_docker_compose(), "--file", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _django(code: str, **env: str | None):
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO_ROOT,
        env=_env(DJANGO_SETTINGS_MODULE="loyalty_engine.settings", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_and_defines_the_six_services(empty_env_file):
    result = _compose(
        empty_env_file,
        "config",
        "--services",
        DJANGO_SECRET_KEY="compose-test-secret",
        POSTGRES_PASSWORD="compose-test-password",
    )

    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"postgres", "redis", "web", "worker", "beat", "nginx"}


def _config(env_file: Path) -> dict:
    result = _compose(
        env_file,
        "config",
        DJANGO_SECRET_KEY="compose-test-secret",
        POSTGRES_PASSWORD="compose-test-password",
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_compose_nginx_serves_the_repository_site_file_in_front_of_web(empty_env_file):
    services = _config(empty_env_file)
    nginx = services["nginx"]

    mounts = nginx["volumes"]
    sources = [Path(m["source"] if isinstance(m, dict) else m.split(":")[0]) for m in mounts]
    assert REPO_ROOT / "deploy/nginx/loyalty.conf.template" in sources
    assert nginx["environment"]["LOYALTY_UPSTREAM"] == "web:8000"
    assert nginx["depends_on"] == {"web": {"condition": "service_healthy"}}
    # Only nginx is published; web is reached through it.
    assert "ports" not in services["web"]
    published = [
        str(p["target"] if isinstance(p, dict) else p).split(":")[-1] for p in nginx["ports"]
    ]
    assert published == ["8080"]


def test_compose_healthchecks_use_the_health_endpoints(empty_env_file):
    services = _config(empty_env_file)

    assert "/health/ready" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/health/live" in " ".join(services["nginx"]["healthcheck"]["test"])


def test_compose_app_services_take_the_secret_key_from_the_operator_environment(empty_env_file):
    result = _compose(
        empty_env_file,
        "config",
        DJANGO_SECRET_KEY="compose-test-secret",
        POSTGRES_PASSWORD="compose-test-password",
    )

    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DJANGO_SECRET_KEY"] == "compose-test-secret", name
        assert environment["DJANGO_DEBUG"] == "false", name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert environment["DATABASE_URL"] == (
            "postgres://loyalty:compose-test-password@postgres:5432/loyalty"
        ), name
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name


def test_compose_beat_reads_the_nightly_schedules_from_the_database(empty_env_file):
    result = _compose(
        empty_env_file,
        "config",
        DJANGO_SECRET_KEY="compose-test-secret",
        POSTGRES_PASSWORD="compose-test-password",
    )

    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]

    def command(name: str) -> str:
        value = services[name]["command"]
        return value if isinstance(value, str) else " ".join(value)

    assert "beat" in command("beat").split()
    assert "--scheduler django_celery_beat.schedulers:DatabaseScheduler" in command("beat")
    assert "worker" in command("worker").split() and "-B" not in command("worker").split()


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"])
def test_compose_refuses_to_run_without_a_required_secret(empty_env_file, missing):
    secrets = {"DJANGO_SECRET_KEY": "compose-test-secret", "POSTGRES_PASSWORD": "pw"}
    secrets[missing] = None

    result = _compose(empty_env_file, "config", **secrets)

    assert result.returncode != 0
    assert "Missing mandatory value" in result.stderr
    assert f"set {missing}" in result.stderr


def test_compose_database_url_selects_postgresql(empty_env_file):
    config = _compose(
        empty_env_file,
        "config",
        DJANGO_SECRET_KEY="compose-test-secret",
        POSTGRES_PASSWORD="compose-test-password",
    )
    assert config.returncode == 0, config.stderr
    database_url = yaml.safe_load(config.stdout)["services"]["web"]["environment"]["DATABASE_URL"]

    result = _django(
        "from django.conf import settings; db = settings.DATABASES['default']; "
        "print(db['ENGINE'], db['HOST'], db['NAME'])",
        DJANGO_DEBUG="true",
        DATABASE_URL=database_url,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["loyalty_engine.postgresql", "postgres", "loyalty"]


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _django("", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=None)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_settings_start_with_a_secret_key():
    result = _django(
        "from django.conf import settings; print(settings.DEBUG)",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="production-test-secret",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_database_is_sqlite_without_database_url():
    result = _django(
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        DJANGO_DEBUG="true",
        DATABASE_URL=None,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def _prepare_threshold(**env: str | None) -> str:
    result = _django(
        "from django.conf import settings; "
        "options = settings.DATABASES['default'].get('OPTIONS', {}); "
        "print(options.get('prepare_threshold', 'absent'))",
        DJANGO_DEBUG="true",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_prepare_threshold_is_five_by_default_and_empty_turns_it_off():
    postgres = "postgres://postgres@127.0.0.1:5432/unused"
    assert _prepare_threshold(DATABASE_URL=postgres, DATABASE_PREPARE_THRESHOLD=None) == "5"
    assert _prepare_threshold(DATABASE_URL=postgres, DATABASE_PREPARE_THRESHOLD="0") == "0"
    assert _prepare_threshold(DATABASE_URL=postgres, DATABASE_PREPARE_THRESHOLD="") == "None"
    # SQLite has no prepared statements to turn on.
    assert _prepare_threshold(DATABASE_URL=None) == "absent"


def test_image_runs_as_a_non_root_user():
    users = [
        line.split()[1]
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("USER ")
    ]

    assert users, "the Dockerfile never switches away from root"
    assert users[-1] not in {"root", "0"}
