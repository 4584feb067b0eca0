"""Every 404, 405 and 415 outside the staff's HTML pages is the JSON error envelope.

DRF views already answer with it (loyalty_engine/errors.py), but a URL no view matches
gets Django's HTML page, the technical one when DEBUG is on (handler404 only applies with
DEBUG off). API clients must meet the same envelope in development as in production.
"""

import functools

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import JsonResponse
from django.urls import get_resolver
from django.utils.module_loading import import_string

from loyalty_engine.errors import error_body

# Staff pages keep Django's HTML answers: the admin (with the KPI dashboard) and the docs.
HTML_PREFIXES = ("/admin/", "/api/docs/")

_ERRORS = {
    404: ("not_found", "No such URL."),
    405: ("method_not_allowed", "This URL does not take this method."),
    415: ("unsupported_media_type", "Send the body as application/json."),
}


class JsonErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code not in _ERRORS or request.path.startswith(HTML_PREFIXES):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, message = _ERRORS[response.status_code]
        json_response = JsonResponse(error_body(code, message), status=response.status_code)
        if response.has_header("Allow"):
            json_response["Allow"] = response["Allow"]
        return json_response


# A shop's backend (Api-Key) or a member's app (Bearer) calling the API.
API_PREFIX = "/api/v1/"
API_CREDENTIALS = ("Api-Key ", "Bearer ")


class ApiCallMiddleware:
    """A shop's or a member's API call goes through settings.API_MIDDLEWARE, not the rest
    of MIDDLEWARE: it carries its credential in the Authorization header, so the sessions,
    CSRF, staff user, messages, frame options, static files and audit-trail request that
    browsers and staff need are work with no effect (issue 18: they cost about a tenth of
    a balance read). Everything else (staff API, admin, docs, CORS preflights, calls with
    no credential) goes on through MIDDLEWARE as listed."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api_chain = _ApiHandler().chain

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX) and request.META.get(
            "HTTP_AUTHORIZATION", ""
        ).startswith(API_CREDENTIALS):
            return self.api_chain(request)
        return self.get_response(request)


class _ApiHandler(BaseHandler):
    """Django's request handling (URL resolution, views, their exceptions) behind
    settings.API_MIDDLEWARE, which are all synchronous."""

    def __init__(self):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.API_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self.chain = handler

    def resolve_request(self, request):
        if hasattr(request, "urlconf"):
            return super().resolve_request(request)
        match = request.resolver_match = _resolved(get_resolver(), request.path_info)
        return match


@functools.lru_cache(maxsize=2048)
def _resolved(resolver, path: str):
    """An API path's view and arguments, found once per path: walking the URL patterns
    was about a twentieth of a balance read (issue 18). Keyed by the resolver too, which
    Django replaces when the URL configuration changes. A path no view takes raises
    Resolver404 every time (nothing is cached)."""
    return resolver.resolve(path)
