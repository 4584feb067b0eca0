from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import IdentifierField, UtcDateTimeField, identifier_value
from loyalty_engine.throttling import MemberTokenThrottle
from members.auth import ShopApi
from members.errors import MemberErased, MemberNotFound
from members.models import Member
from members.services import member_consent_set, member_follow_merges, member_token_issue

# Printable text without control characters (NUL breaks PostgreSQL text columns).
printable = RegexValidator(
    r"^[^\x00-\x1f\x7f]+$",
    gettext_lazy("Use printable characters only."),
    code="invalid_characters",
)


class ExternalIdField(IdentifierField):
    """The shop's customer id of a member."""


def path_value(value: str, *, field: str, max_length: int = 64) -> str:
    """A URL path parameter, checked like a body field."""
    return identifier_value(value, field=field, max_length=max_length)


def member_by_external_id(external_id: str) -> Member:
    path_value(external_id, field="external_id")
    member = Member.objects.filter(external_id=external_id).first()
    if member is None:
        raise MemberNotFound()
    return member_follow_merges(member)


class BalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()
    held = serializers.IntegerField()
    owed = serializers.IntegerField()
    lifetime_earned = serializers.IntegerField()


class MemberTokenApi(ShopApi, APIView):
    throttle_classes = [MemberTokenThrottle]

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = UtcDateTimeField()

    @extend_schema(
        request=None,
        responses={201: OutputSerializer},
        summary="Mint a short-lived token for a member's front end",
        tags=["members"],
    )
    def post(self, request, external_id: str):
        token, expires_at = member_token_issue(member=member_by_external_id(external_id))
        data = self.OutputSerializer({"token": token, "expires_at": expires_at}).data
        return Response(data, status=status.HTTP_201_CREATED)


class MemberConsentApi(ShopApi, APIView):
    """A member's consent to email: transactional (welcome, vouchers, points about to
    expire) and marketing (tier changes). Erased members have none to set."""

    class InputSerializer(serializers.Serializer):
        transactional = serializers.BooleanField(required=False)
        marketing = serializers.BooleanField(required=False)

    class OutputSerializer(serializers.Serializer):
        transactional = serializers.BooleanField(source="consent_transactional")
        marketing = serializers.BooleanField(source="consent_marketing")

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Set a member's consent to transactional and marketing email",
        tags=["members"],
    )
    def post(self, request, external_id: str):
        member = member_by_external_id(external_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if member.status == Member.Status.ERASED:
            raise MemberErased()
        member = member_consent_set(member=member, **serializer.validated_data)
        return Response(self.OutputSerializer(member).data)

    @extend_schema(
        responses={200: OutputSerializer},
        summary="A member's consent to email",
        tags=["members"],
    )
    def get(self, request, external_id: str):
        return Response(self.OutputSerializer(member_by_external_id(external_id)).data)
