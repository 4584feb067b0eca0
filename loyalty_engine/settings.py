"""Settings, read only from environment variables (django-environ).

Development defaults are safe; with DJANGO_DEBUG off (production), the process refuses
to start without DJANGO_SECRET_KEY. Without DATABASE_URL the database is embedded SQLite.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local, untracked .env (written by `make install` with DJANGO_DEBUG=true) lets plain
# `manage.py` commands run on a developer's machine. Real environment variables win;
# production has no .env and keeps every guard below.
# https://django-environ.readthedocs.io/en/latest/quickstart.html
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production (DJANGO_DEBUG off) refuses to start "
            "without it; for local development set DJANGO_DEBUG=true, as `make run` does."
        )
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - used only with DEBUG on

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Staff enter names per language (tier, reward, milestone, rule and program names);
    # before the admin so its admin widgets apply. https://django-modeltranslation.readthedocs.io/
    "modeltranslation",
    # The staff admin: title from the program, index in sections (loyalty_engine/admin_site.py).
    "loyalty_engine.apps.LoyaltyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "drf_spectacular",
    # Swagger UI and ReDoc served from this package's static files, not a CDN.
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "simple_history",
    "anymail",
    # The outbox, the event feed and webhooks: below the apps, which all emit events.
    "loyalty_engine.events",
    "members",
    "rewards",
    "metrics",
]

MIDDLEWARE = [
    # /health/live and /health/ready, answered before the host check (probes use the IP).
    "loyalty_engine.health.HealthCheckMiddleware",
    # A shop's or member's API call (Api-Key or Bearer on /api/v1/) continues through
    # API_MIDDLEWARE below instead of the rest of this list (loyalty_engine/middleware.py).
    "loyalty_engine.middleware.ApiCallMiddleware",
    # X-Forwarded-* believed only from TRUSTED_PROXIES (nginx): dropped from anyone else.
    "loyalty_engine.serving.ForwardedHeadersMiddleware",
    # A lost or refused database connection anywhere below becomes 503, not 500.
    "loyalty_engine.serving.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, dashboard, API docs) with DEBUG off, from the collected files.
    # https://whitenoise.readthedocs.io/en/stable/django.html
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before CommonMiddleware, so preflight requests are answered.
    # https://github.com/adamchainz/django-cors-headers#setup
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of each response: ?lang=, Accept-Language, the member's, the program's
    # (loyalty_engine/i18n.py). Sets Content-Language on every response.
    "loyalty_engine.i18n.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records which staff user made each change in the audit trail (django-simple-history).
    "simple_history.middleware.HistoryRequestMiddleware",
    # JSON 404/405/415 outside the admin, even with DEBUG on (loyalty_engine/middleware.py).
    "loyalty_engine.middleware.JsonErrorMiddleware",
]

# What a shop's or member's API call needs of MIDDLEWARE, in the same order: not sessions,
# CSRF, the staff user, messages, frame options, static files or the audit trail's request.
API_MIDDLEWARE = [
    "loyalty_engine.serving.ForwardedHeadersMiddleware",
    "loyalty_engine.serving.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "loyalty_engine.i18n.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "loyalty_engine.middleware.JsonErrorMiddleware",
]

ROOT_URLCONF = "loyalty_engine.urls"
WSGI_APPLICATION = "loyalty_engine.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The admin's own templates (index with the dashboard link).
        "DIRS": [BASE_DIR / "loyalty_engine" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE takes SQLite's write lock at the start of every transaction, so the
    # read-then-write services serialize instead of failing with "database is locked".
    # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
else:
    # Persistent connections, checked before reuse.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Django's backend, but a connection that served a request less than this many seconds
    # ago is reused without the health check's round trip (loyalty_engine/postgresql).
    DATABASES["default"]["ENGINE"] = "loyalty_engine.postgresql"
    # Django turns psycopg's prepared statements off unless asked (for transaction-mode
    # poolers). The hand-written hot-path statements (loyalty_engine/rows.py) are prepared
    # after this many runs on a connection, so PostgreSQL stops parsing and planning them;
    # the ORM's client-side-bound queries are never prepared. Empty: off (a pooler in
    # transaction mode without prepared-statement support).
    # https://docs.djangoproject.com/en/5.2/ref/databases/#server-side-parameters-binding
    prepare_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip()
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        int(prepare_threshold) if prepare_threshold else None
    )
DATABASE_HEALTH_CHECK_IDLE_SECONDS = env.float("DATABASE_HEALTH_CHECK_IDLE_SECONDS", default=1.0)
# On PostgreSQL a plain earn (no lines, no date, no tier, rule or milestone configured) is
# written by one statement, the function `loyalty_earn_plain` (rewards.services.plain_earn,
# issue 18); false: every earn takes the Python path, as on SQLite.
EARN_PLAIN_FUNCTION = env.bool("EARN_PLAIN_FUNCTION", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The languages members and staff read; adding one is a locale/<code>/LC_MESSAGES/django.po
# and its line here (README, "Languages").
# https://docs.djangoproject.com/en/5.2/topics/i18n/translation/
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sv", "Svenska"), ("da", "Dansk")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Names staff enter per language fall back to the program's default language (set at run
# time by loyalty_engine.i18n), then to these, so a name is never empty.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en", "sv", "da")
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Compressed, content-hashed names (cached forever by browsers) once collected; plain
# finders in development and tests, which run without collectstatic.
# https://whitenoise.readthedocs.io/en/stable/django.html#add-compression-and-caching-support
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and `runserver` with DEBUG off still find the apps' files without collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_MANIFEST_STRICT = False

# How long a web process trusts an API key it has verified (members/auth.py): a key revoked
# or a shop deactivated is refused by every process within this many seconds; 0 checks the
# key on every request.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=1.0)
# How long a web process trusts that a client address had no failed authentication, before
# it reads the failure count again (loyalty_engine/throttling.py); 0 reads it every time.
FAILED_AUTH_CLEAN_SECONDS = env.float("FAILED_AUTH_CLEAN_SECONDS", default=1.0)

# Throttle counts and other shared state: Redis in production (every web process sees the
# same counts), this process's memory in development and tests.
# https://docs.djangoproject.com/en/5.2/topics/cache/#redis
CACHE_URL = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="loyalty"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# The proxies in front of the app (nginx): only a request from one of these addresses has
# its X-Forwarded-For believed when the client's address matters (throttles). Django's
# SECURE_PROXY_SSL_HEADER below trusts X-Forwarded-Proto, which nginx always overwrites
# and gunicorn only listens behind it.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])

# CORS: only a member's front end calls the API from a browser, and only the member
# endpoints and the public program page answer it; a shop's Api-Key never sits in a browser.
# https://github.com/adamchainz/django-cors-headers#configuration
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/v1/(me|me/.*|program)$"
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "accept-language")
CORS_ALLOW_CREDENTIALS = False

# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["loyalty_engine.parsers.SafeJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "loyalty_engine.parsers.JsonContentNegotiation",
    "EXCEPTION_HANDLER": "loyalty_engine.errors.exception_handler",
    # Importing this module also registers the Api-Key and Bearer security schemes.
    "DEFAULT_SCHEMA_CLASS": "loyalty_engine.schema.ViewNamedAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    # Rates of the throttles in loyalty_engine/throttling.py, per minute unless the env says
    # otherwise ("N/s", "N/m", "N/h", "N/d"). Generous: a real shop does not meet them.
    # https://www.django-rest-framework.org/api-guide/throttling/
    "DEFAULT_THROTTLE_RATES": {
        # Bad API keys and bad tokens, per client address.
        "failed_auth": env.str("THROTTLE_FAILED_AUTH", default="60/m"),
        # Member tokens minted, per shop.
        "member_token": env.str("THROTTLE_MEMBER_TOKEN", default="3000/m"),
        # Voucher codes looked up or used that do not exist, per shop (guessing).
        "voucher_miss": env.str("THROTTLE_VOUCHER_MISS", default="120/m"),
        # Survey answers posted, per shop.
        "feedback": env.str("THROTTLE_FEEDBACK", default="1200/m"),
    },
}

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty engine API",
    "DESCRIPTION": (
        "Points ledger, earn and redeem API for shops (`Authorization: Api-Key <key>`) and "
        "members (`Authorization: Bearer <member token>`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets shared by several components need a name of their own.
    "ENUM_NAME_OVERRIDES": {"VoucherStatusEnum": "rewards.vouchers.DISPLAY_STATUSES"},
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: no CDN.
    # https://drf-spectacular.readthedocs.io/en/latest/settings.html#self-contained-ui-installation
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation's error responses, through one `Error` component.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "loyalty_engine.schema.error_responses_hook",
    ],
}

# The nightly `kpis` job recomputes periods touched by data dated in the past (a purchase
# imported late) back this many days at most; older ones need `manage.py recompute_kpis`.
KPIS_NIGHTLY_MAX_DAYS = env.int("KPIS_NIGHTLY_MAX_DAYS", default=92)
# The predictions' holdout check fits on all but the last N weeks and predicts them
# (metrics/predictions/services.py); 0 turns it off.
PREDICTIONS_HOLDOUT_WEEKS = env.int("PREDICTIONS_HOLDOUT_WEEKS", default=26)
# PostgreSQL work_mem of a KPI recompute transaction (metrics/services.py).
KPIS_WORK_MEM = env.str("KPIS_WORK_MEM", default="256MB")
# PostgreSQL work_mem of the predictions' read (metrics/predictions/inputs.py).
PREDICTIONS_WORK_MEM = env.str("PREDICTIONS_WORK_MEM", default="256MB")

# Member tokens are signed with SECRET_KEY and expire after this many seconds.
MEMBER_TOKEN_TTL_SECONDS = env.int("MEMBER_TOKEN_TTL_SECONDS", default=15 * 60)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TIMEZONE = TIME_ZONE
# The queue this deployment's tasks go to and its workers consume. Processes that share a
# Redis database but must not run each other's tasks (test sessions, benchmarks) set their own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task is redelivered when its worker has not acknowledged it within the visibility
# timeout; it must outlast the longest hard time limit (rewards/tasks.py: 16 minutes), and
# no more than that, so a message whose worker died comes back in minutes.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 20 * 60}
# A nightly run with no chunk finished for this long had its worker die (every chunk's hard
# limit and retries are far shorter): the next run or `manage.py job_runs_sweep` marks it
# interrupted. https://docs.celeryq.dev/en/stable/userguide/workers.html#time-limits
JOB_RUN_STALE_AFTER_SECONDS = env.int("JOB_RUN_STALE_AFTER_SECONDS", default=2 * 60 * 60)
# Periodic schedules live in the database (editable in the admin); the nightly jobs install
# their defaults on migrate (rewards/jobs.py).
# https://django-celery-beat.readthedocs.io/en/latest/#using-custom-scheduler-classes
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# The largest request body read into memory (nginx's client_max_body_size matches it in
# deploy/nginx/loyalty.conf.template; CSV imports in the admin are files, not this).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

# The outbox's pump dispatches events and delivers webhooks; commits ask for it within a
# second, this schedule catches the rest. Retention runs nightly.
# https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html#entries
CELERY_BEAT_SCHEDULE = {
    "events-pump": {"task": "loyalty_engine.events.tasks.events_pump", "schedule": 5.0},
    "events-prune": {
        "task": "loyalty_engine.events.tasks.events_prune_task",
        "schedule": crontab(hour=4, minute=0),
    },
}

# Webhooks (Standard Webhooks signatures; loyalty_engine/events). Seconds between attempts
# after each failure, with ±20% jitter: about 28 hours in all, then the delivery is failed.
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
# A claimed delivery not answered within this long (a killed worker) is due again.
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=3 * WEBHOOK_TIMEOUT_SECONDS + 30)
# An endpoint whose every delivery failed for this long is paused.
WEBHOOK_PAUSE_AFTER_SECONDS = env.int("WEBHOOK_PAUSE_AFTER_SECONDS", default=24 * 3600)
# Plain http and loopback/private/link-local receivers: development and tests only (SSRF).
WEBHOOK_ALLOW_LOCAL = env.bool("WEBHOOK_ALLOW_LOCAL", default=DEBUG)
# Delivered events are removed after this many days by the nightly prune.
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=30)
# The feed shows events this many seconds after they were written, so an event written
# just before a slower transaction's commit cannot appear behind a reader's cursor.
EVENTS_FEED_SETTLE_SECONDS = env.float("EVENTS_FEED_SETTLE_SECONDS", default=2)

# Email to members. EMAIL_URL picks the transport (smtp://127.0.0.1:1025 locally and in
# tests); EMAIL_BACKEND an anymail provider, configured by ANYMAIL_* variables.
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
# https://anymail.dev/en/stable/quickstart/
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_BACKEND)  # noqa: F821
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in env.ENVIRON.items()
    if key.startswith("ANYMAIL_")
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
# Links in messages (unsubscribe) point here.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

if not DEBUG:
    # https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)

# The audit trail is read-only: reverting from history would skip the admin's validation
# and the services (and bring back what an erasure removed).
# https://django-simple-history.readthedocs.io/en/latest/admin.html#disabling-the-option-to-revert-an-object
SIMPLE_HISTORY_REVERT_DISABLED = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="WARNING")},
}
