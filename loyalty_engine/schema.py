"""OpenAPI generation (drf-spectacular) fitted to the house style of nested serializers.

https://drf-spectacular.readthedocs.io/en/latest/customization.html
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
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
