"""Health endpoints for the orchestrator and the proxy: unauthenticated, cheap, and
revealing nothing but which check failed (no version, no host names, no error text).

- GET /health/live: 200 while the process serves requests.
- GET /health/ready: 200 when it can do its work: the database answers, every migration
  is applied, and (with REDIS_URL set) the broker answers. 503 names the failing check.
"""

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# Once every migration is applied, this process keeps knowing it: a new migration comes
# with a new deployment, that is new processes. Loading the migration graph costs tens of
# milliseconds, too much for every probe.
_migrations_applied = False


def _database() -> bool:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def _migrations() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        _migrations_applied = not plan
    return _migrations_applied


def _broker() -> bool:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _checks() -> dict:
    checks = {"database": _database, "migrations": _migrations}
    if settings.REDIS_URL:
        checks["broker"] = _broker
    return checks


def _run(name: str, check) -> bool:
    try:
        return check()
    except Exception:
        # The details go to the log only; the probe's body names the check.
        logger.warning("Readiness check %s failed", name, exc_info=True)
        return False


@never_cache
@require_safe
def live(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request) -> JsonResponse:
    results = {}
    for name, check in _checks().items():
        # After a failed database check the migrations cannot be read either.
        if name == "migrations" and results.get("database") == "failed":
            results[name] = "failed"
            continue
        results[name] = "ok" if _run(name, check) else "failed"
    failing = [name for name, result in results.items() if result != "ok"]
    body = {"status": "failed" if failing else "ok", "checks": results}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


class HealthCheckMiddleware:
    """Answers the two probes first, before the host check and every other middleware: an
    orchestrator probes by IP address (not in DJANGO_ALLOWED_HOSTS), and a probe needs no
    session, CSRF or CORS work."""

    PROBES = {"/health/live": live, "/health/ready": ready}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = self.PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
