"""OpenAPI generation (drf-spectacular) fitted to the house style of nested serializers.

https://drf-spectacular.readthedocs.io/en/latest/customization.html
"""

import inspect

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema

GENERIC_NAMES = {"InputSerializer", "OutputSerializer"}


class ViewNamedAutoSchema(AutoSchema):
    """Every view nests an `InputSerializer` and an `OutputSerializer`; name their
    components after the view (`PurchaseCreateApi` → `PurchaseCreateInput`) so they
    don't collide."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if qualname.split(".")[-1] in GENERIC_NAMES or name in GENERIC_NAMES:
            owner = qualname.split(".")[0]
            if owner.endswith("Api"):
                owner = owner[: -len("Api")]
            else:
                owner = type(self.view).__name__.removesuffix("Api")
            name = owner + name.replace("Serializer", "")
        return name

    def get_operation_id(self):
        """`PurchaseCreateApi` → `purchaseCreate`: the view's name, which says what the
        operation does, instead of one built from the URL (`v1_purchases_create`)."""
        name = type(self.view).__name__.removesuffix("Api")
        operation_id = name[0].lower() + name[1:]
        methods = [m for m in self.view.allowed_methods if m not in ("OPTIONS", "HEAD")]
        if len(methods) > 1:
            operation_id += self.method.capitalize()
        return operation_id

    def get_description(self):
        """The operation's own words (extend_schema's description, the method's or the
        view's own docstring, never one inherited from a mixin), then who may call it."""
        method = getattr(self.view, self.method.lower(), None)
        own = type(self.view).__dict__.get("__doc__") or getattr(method, "__doc__", None)
        text = inspect.cleandoc(own) if own else (self.get_summary() or "")
        caller = self._caller_text()
        return f"{text}\n\n{caller}" if caller else text

    def _caller_text(self) -> str:
        names = {type(a).__name__ for a in self.view.get_authenticators()}
        if "ShopKeyAuthentication" in names:
            return "Called by a shop's backend with `Authorization: Api-Key <key>`."
        if "MemberTokenAuthentication" in names:
            return "Called by a member's front end with `Authorization: Bearer <member token>`."
        if "StaffTokenAuthentication" in names:
            return "Called by staff with `Authorization: Token <key>` or an admin session."
        return "Public: no credential needed."

    def get_auth(self):
        # Authenticators marked `documented = False` only explain a refusal
        # (members.auth.WrongCredentialAuthentication); they accept no credential.
        authenticators = self.view.get_authenticators
        self.view.get_authenticators = lambda: [
            a for a in authenticators() if getattr(a, "documented", True)
        ]
        try:
            return super().get_auth()
        finally:
            del self.view.get_authenticators


class ShopKeyScheme(OpenApiAuthenticationExtension):
    target_class = "members.auth.ShopKeyAuthentication"
    name = "ShopApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": '`Api-Key <key>`, from `manage.py create_api_key "<shop>"`.',
        }


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.auth.MemberTokenAuthentication"
    name = "MemberToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A member token from POST /api/v1/members/{external_id}/token.",
        }


# --- Errors, in one component every operation refers to ----------------------------------

# Codes the error handler and middleware give besides the DomainError subclasses
# (loyalty_engine/errors.py, loyalty_engine/middleware.py).
FRAMEWORK_CODES = {
    "validation_error": 400,
    "malformed_json": 400,
    "bad_request": 400,
    "not_authenticated": 401,
    "authentication_failed": 401,
    "permission_denied": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "request_too_large": 413,
    "unsupported_media_type": 415,
    "throttled": 429,
    "rate_limited": 429,
    "service_unavailable": 503,
}

ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: `validation_error` names each field in `fields`.",
    "401": "No credential this operation takes, or one that is not valid.",
    "403": "The credential is valid but may not call this operation.",
    "404": "The URL or a resource it names does not exist.",
    "409": "The request conflicts with the current state (a taken id, a reused key).",
    "413": "The request body is too large.",
    "415": "The body is not `application/json`.",
    "422": "A business rule refused the operation; nothing was written.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
    "503": "The service is briefly unavailable; retry with the same id or key.",
}


def _domain_error_classes() -> list[type]:
    """DomainError and every subclass, found through the class tree (the apps' errors
    modules are imported by the URLconf before a schema is generated)."""
    from loyalty_engine.errors import DomainError

    found, pending = [], [DomainError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        found.append(cls)
    return found


def stable_error_codes() -> dict[str, int]:
    """Every stable error code with its HTTP status: the framework's and every
    DomainError subclass's."""
    codes = dict(FRAMEWORK_CODES)
    for cls in _domain_error_classes():
        if cls.code != "domain_error":
            codes.setdefault(cls.code, cls.status_code)
    return dict(sorted(codes.items()))


def _code_line(code: str, status: int, notes: dict[str, str]) -> str:
    line = f"- `{code}` ({status})"
    return f"{line}: {notes[code]}" if code in notes else line


def error_component() -> dict:
    codes = stable_error_codes()
    notes = {cls.code: cls.schema_note for cls in _domain_error_classes() if cls.schema_note}
    return {
        "type": "object",
        "description": "Every error. Clients branch on `error.code`, which is stable.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {
                        "type": "string",
                        "enum": list(codes),
                        "description": "\n".join(
                            _code_line(code, status, notes) for code, status in codes.items()
                        ),
                    },
                    "message": {"type": "string", "description": "For people, not programs."},
                    "fields": {
                        "type": "object",
                        "description": "Per field (dotted for nested ones): what is wrong.",
                        "additionalProperties": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["code", "message"],
                                "properties": {
                                    "code": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "additionalProperties": True,
            }
        },
    }


def _error_statuses(path: str, method: str, operation: dict) -> list[str]:
    statuses = ["503"]
    has_body = "requestBody" in operation
    parameters = operation.get("parameters", [])
    if has_body or parameters or "{" in path:
        statuses.append("400")
    if operation.get("security") and operation["security"] != [{}]:
        statuses += ["401", "403", "429"]
    # A cursor that is not one of ours is a 404 too (DRF's CursorPagination).
    if "{" in path or any(p["name"] == "cursor" for p in parameters):
        statuses.append("404")
    if method == "post":
        # A body names resources too: the member, the reward (member_not_found, …).
        statuses += ["404", "409", "413", "415", "422"]
    return sorted(set(statuses))


def error_responses_hook(result, generator, request, public):
    """Every operation documents its error responses through the one `Error` component."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = error_component()
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(path, method, operation):
                responses.setdefault(
                    status,
                    {
                        "description": ERROR_DESCRIPTIONS.get(status, "Not allowed."),
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result


class StrictDecimalFieldScheme(OpenApiSerializerFieldExtension):
    """The pattern of a strict decimal is the server's own: ASCII digits, at most the
    field's digits, no sign when it cannot be negative (loyalty_engine/fields.py)."""

    target_class = "loyalty_engine.fields.StrictDecimalField"

    def map_serializer_field(self, auto_schema, direction):
        from loyalty_engine.fields import decimal_pattern

        field = self.target
        signed = field.min_value is None or field.min_value < 0
        schema = {
            "type": "string",
            "format": "decimal",
            "pattern": decimal_pattern(field.max_digits, field.decimal_places, signed=signed),
        }
        if field.help_text:
            schema["description"] = str(field.help_text)
        return schema
