"""What the production setup needs between the web server and the views: the client's
address behind the proxy, chunked request bodies, and 503 when the database is away."""

import functools
import io
import ipaddress
import json
import logging

from django.conf import settings
from django.utils.translation import gettext as _

from loyalty_engine.errors import error_body, is_database_unavailable, service_unavailable_response

logger = logging.getLogger(__name__)


def _is_trusted_proxy(address: str) -> bool:
    return _trusted(address, tuple(settings.TRUSTED_PROXIES))


@functools.lru_cache(maxsize=1024)
def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    # Cached: parsing the addresses twice a request was a few percent of a balance read's
    # CPU (issue 18). Keyed by the proxies too, so a changed setting is read afresh.
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, unless that is one of TRUSTED_PROXIES (nginx), in
    which case the nearest address in X-Forwarded-For that is not a trusted proxy. A client
    that talks to the app directly cannot choose its address with the header."""
    meta = request.META
    address = meta.get("REMOTE_ADDR", "") or ""
    if not _is_trusted_proxy(address):
        return address
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    for hop in reversed(forwarded):
        if not _is_trusted_proxy(hop):
            return hop
    return forwarded[0] if forwarded else address


# Headers only a proxy may set: X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER) and the rest.
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
)


class ForwardedHeadersMiddleware:
    """Drops the X-Forwarded-* headers of a request that did not come from one of
    TRUSTED_PROXIES, so Django believes them (is_secure(), the client's address) only from
    nginx, even if gunicorn is reached some other way."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _is_trusted_proxy(request.META.get("REMOTE_ADDR", "") or ""):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """A database outage raised by a view, admin pages included, becomes 503
    `service_unavailable` with Retry-After instead of a 500, with DEBUG on too. One raised
    by a middleware reaches handler500, which answers the same (loyalty_engine/errors.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            logger.warning("Database unavailable during %s", request.path, exc_info=True)
            return service_unavailable_response()
        return None


class ChunkedBodyMiddleware:
    """WSGI middleware for `Transfer-Encoding: chunked` request bodies.

    Django reads exactly CONTENT_LENGTH bytes, so a chunked body (which has none) would be
    read as empty. When the server has already decoded the chunks (gunicorn sets
    `wsgi.input_terminated`), the body is read here, up to DATA_UPLOAD_MAX_MEMORY_SIZE, and
    handed on with its length. A server that passes the raw chunks (runserver) gets 411
    asking for a Content-Length. Behind nginx bodies arrive with a length already.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        encoding = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if "chunked" not in encoding:
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _json(
                start_response,
                "411 Length Required",
                "length_required",
                _("This server cannot read a chunked request body; send Content-Length."),
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            return _json(
                start_response,
                "413 Request Entity Too Large",
                "request_too_large",
                _("The request body is too large."),
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        del environ["HTTP_TRANSFER_ENCODING"]
        return self.app(environ, start_response)


def _json(start_response, status: str, code: str, message: str):
    payload = json.dumps(error_body(code, message)).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
