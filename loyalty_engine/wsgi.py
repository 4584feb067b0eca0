import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")
django_application = get_wsgi_application()

from loyalty_engine.serving import ChunkedBodyMiddleware  # noqa: E402 - needs settings

# Chunked request bodies are read, not taken for empty (loyalty_engine/serving.py).
application = ChunkedBodyMiddleware(django_application)
