# The loyalty engine's web, worker and beat processes all run from this one image;
# docker-compose.yml chooses the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GUNICORN_WORKERS=2 \
    GUNICORN_THREADS=4

WORKDIR /app

# pyproject.toml declares the dependencies but packages nothing (`packages = []`): the code
# runs from /app. Installing from pyproject.toml alone keeps the dependency layer cached
# across code changes.
COPY pyproject.toml ./
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

COPY . .

# The translations, compiled with Babel (the image has no GNU gettext); .mo files are not
# committed.
RUN pybabel -q compile --domain django --directory locale

# The key only lets settings import for collectstatic; it exists in this RUN line alone and
# is not in the image's environment, so the container still refuses to start without one.
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-build-only \
    python manage.py collectstatic --noinput

RUN useradd --system --user-group --no-create-home --home-dir /app app
USER app

EXPOSE 8000

# Through sh, so GUNICORN_WORKERS and GUNICORN_THREADS are read when the container starts.
CMD ["sh", "-c", "exec gunicorn loyalty_engine.wsgi:application --bind 0.0.0.0:8000 --workers \"$GUNICORN_WORKERS\" --threads \"$GUNICORN_THREADS\" --access-logfile -"]
