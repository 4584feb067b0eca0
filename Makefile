# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# PostgreSQL for the test suite (trust auth on this machine; the test database is created).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/loyalty
HOST ?= 127.0.0.1
PORT ?= 8000
# The broker for `make worker` (the web app itself runs tasks inline without REDIS_URL).
REDIS_URL ?= redis://127.0.0.1:6379/0
export DJANGO_DEBUG ?= true

.PHONY: install messages run migrate seed nightly worker test test-postgres test-sqlite lint check-postgres clean \
	bench bench-quick bench-tools serve nginx-tools

# A worktree's .venv may be a link to a shared venv, which `venv` refuses to recreate.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Local development settings for plain `manage.py` use; never committed, never in images.
.env:
	printf 'DJANGO_DEBUG=true\n' > $@

install: $(VENV)/.installed .env messages

# The translations (locale/<language>/LC_MESSAGES/django.po) compiled to .mo, which are not
# committed: with GNU gettext's msgfmt when it is installed (Django's compilemessages),
# else with Babel (a dependency), so `make run` still needs nothing but Python.
messages: $(VENV)/.installed
	@if command -v msgfmt >/dev/null; then \
		$(PY) manage.py compilemessages --ignore=.venv --verbosity 0; \
	else \
		$(VENV)/bin/pybabel -q compile --domain django --directory locale; \
	fi

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --host $(HOST) --port $(PORT)
	$(PY) manage.py seed_demo_feedback

# The nightly jobs, now, in-process: the seed's oldest points are past their expiry.
nightly: seed
	$(PY) manage.py run_nightly
	$(PY) manage.py recompute_kpis --all-history --granularity month --granularity week

run: nightly
	@echo "Serving http://$(HOST):$(PORT)/  (API docs /api/docs/, admin /admin/)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# nginx is Debian's package, the proxy in front of gunicorn in `make serve`.
nginx-tools:
	@if ! command -v nginx >/dev/null && ! test -x /usr/sbin/nginx; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	fi

# The production setup on this machine: DEBUG off; DJANGO_SECRET_KEY (required),
# DATABASE_URL and REDIS_URL from the environment; migrate, collectstatic, then gunicorn
# behind nginx on SERVE_PORT (the environment's PORT, else 8080). See README "Production".
SERVE_PORT := $(if $(filter environment command line,$(origin PORT)),$(PORT),8080)
serve: $(VENV)/.installed nginx-tools
	PORT=$(SERVE_PORT) DJANGO_DEBUG=false $(PY) deploy/serve.py

# A Celery worker with beat embedded (-B), reading the nightly schedules from the database
# (django-celery-beat; edit them in the admin under Periodic tasks).
worker: migrate
	REDIS_URL=$(REDIS_URL) $(VENV)/bin/celery -A loyalty_engine worker -B -l info \
		--scheduler django_celery_beat.schedulers:DatabaseScheduler

test: install test-postgres test-sqlite

# PostgreSQL: the whole suite, concurrency tests included. Outside CI a missing server is
# reported and this half skipped; with CI=true it fails the run.
test-postgres: install
	@if $(PY) -c "import psycopg, sys; psycopg.connect('$(TEST_DATABASE_URL)'.rsplit('/', 1)[0] + '/postgres', connect_timeout=3)" 2>/dev/null; then \
		DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -p no:cacheprovider; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not reachable at $(TEST_DATABASE_URL); CI needs it." >&2; exit 1; \
	else \
		echo "PostgreSQL is not reachable at $(TEST_DATABASE_URL): skipping the PostgreSQL run." >&2; \
	fi

# Embedded SQLite: everything that does not need PostgreSQL's locks and triggers.
test-sqlite: install
	env -u DATABASE_URL $(PY) -m pytest -p no:cacheprovider -m "not postgres"

# Benchmarks against PostgreSQL on this machine; they write BENCHMARKS.md (see its prose).
# wrk is the load generator (Debian package); pgbench comes with the PostgreSQL client.
bench-tools:
	@if ! command -v wrk >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	fi
	@command -v pgbench >/dev/null || { echo "pgbench is missing (postgresql-client)." >&2; exit 1; }

bench: install bench-tools
	$(PY) bench/run.py

# Small sizes and 5-second runs, under 2 minutes.
bench-quick: install bench-tools
	$(PY) bench/run.py --quick

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
