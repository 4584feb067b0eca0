"""Domain errors and the one place where every API error becomes JSON.

Every 4xx body has the shape {"error": {"code", "message", "fields"}}; `code` is stable
and is what clients branch on. Services raise DomainError subclasses; DRF's own errors
(validation, authentication, parsing) are mapped here too, so no view formats an error.
"""

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the operation. Nothing was written."""

    code = "domain_error"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    message = _("The operation was refused.")
    # In the OpenAPI Error component, after the code: when it is given, if its name does
    # not say it all.
    schema_note = ""

    def __init__(self, message: str | None = None, *, extra: dict[str, Any] | None = None):
        self.message = message or self.message
        self.extra = extra or {}
        super().__init__(self.message)

    @classmethod
    def on_field(cls, field: str, message: str) -> "DomainError":
        """The refusal, naming the request field it is about as the envelope names every
        field error: `fields: {field: [{code, message}]}`."""
        return cls(extra={"fields": {field: [{"code": cls.code, "message": str(message)}]}})


class NotFound(DomainError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    message = _("The request conflicts with the current state.")


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    message = _("This key was already used with a different request body.")


def error_body(code: str, message: str, fields: dict | None = None, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_json",
    exceptions.Throttled: "rate_limited",
}

# Seconds a client waits before trying again after a 503: long enough for a database
# restart or failover, short enough that a till does not give up.
RETRY_AFTER_SECONDS = 5


def is_database_unavailable(error: BaseException | None) -> bool:
    """A lost, refused or broken database connection, or a statement the server gave up on
    (a deadlock past db.py's retries): trying again later is the answer, not a 500."""
    return isinstance(error, (OperationalError, InterfaceError))


def _service_unavailable_body() -> dict:
    return error_body(
        "service_unavailable",
        str(
            _(
                "The service is briefly unavailable: its database could not be reached. Retry "
                "with the same order id or Idempotency-Key; a request that did go through is "
                "replayed, not repeated."
            )
        ),
    )


def service_unavailable_response() -> JsonResponse:
    response = JsonResponse(_service_unavailable_body(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _field_errors(detail: Any) -> dict:
    """DRF's nested details as {field: [{"code", "message"}]}, nested serializers flattened
    to dotted names (`lines.0.unit_price`) so a client can point at the field."""
    flat: dict[str, list[dict[str, str]]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and node and not isinstance(node[0], exceptions.ErrorDetail):
            for index, value in enumerate(node):
                if value:
                    walk(f"{prefix}.{index}" if prefix else str(index), value)
        else:
            items = node if isinstance(node, list) else [node]
            flat.setdefault(prefix or "non_field_errors", []).extend(
                {"code": getattr(item, "code", "invalid"), "message": str(item)} for item in items
            )

    walk("", detail)
    return flat


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if is_database_unavailable(exc):
        logger.warning("Database unavailable", exc_info=exc)
        return Response(
            _service_unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, str(exc.message), **exc.extra), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", str(_("The request body is too large."))),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        fields = _field_errors(exc.detail)
        first = next(iter(fields.items()), None)
        message = f"{first[0]}: {first[1][0]['message']}" if first else str(_("Invalid input."))
        return Response(
            error_body("validation_error", message, fields), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, exceptions.APIException):
        code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), None)
        code = code or (exc.get_codes() if isinstance(exc.get_codes(), str) else "error")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)
    return None


def json_400(request, exception=None) -> JsonResponse:
    return JsonResponse(
        error_body("bad_request", str(_("The request could not be read."))), status=400
    )


def json_404(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("not_found", str(_("No such URL."))), status=404)


def json_500(request) -> JsonResponse:
    # Django calls this while handling the exception, so it is still at hand.
    if is_database_unavailable(sys.exc_info()[1]):
        return service_unavailable_response()
    return JsonResponse(
        error_body(
            "internal_error", str(_("Something went wrong on our side; it has been logged."))
        ),
        status=500,
    )
