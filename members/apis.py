from datetime import date

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members.auth import MemberApi, ShopApi
from members.errors import MemberNotFound
from members.models import Member
from members.services import member_enroll, member_token_issue

# Printable text without control characters (NUL breaks PostgreSQL text columns).
printable = RegexValidator(
    r"^[^\x00-\x1f\x7f]+$", "Use printable characters only.", code="invalid_characters"
)


class ExternalIdField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=64, validators=[printable], **kwargs)


def path_value(value: str, *, field: str, max_length: int = 64) -> str:
    """A URL path parameter, checked like a body field."""
    try:
        serializers.CharField(max_length=max_length, validators=[printable]).run_validation(value)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({field: error.detail}) from None
    return value


def member_by_external_id(external_id: str) -> Member:
    path_value(external_id, field="external_id")
    member = Member.objects.filter(external_id=external_id).first()
    if member is None:
        raise MemberNotFound()
    return member


class BalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()
    held = serializers.IntegerField()
    owed = serializers.IntegerField()
    lifetime_earned = serializers.IntegerField()


class MemberOutputSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    email = serializers.EmailField()
    name = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=Member.Status.choices)
    enrolled_at = serializers.DateTimeField()
    tier = serializers.CharField(allow_null=True, help_text="Null until tiers are configured.")
    balance = BalanceSerializer()

    def to_representation(self, member: Member) -> dict:
        return {
            "external_id": member.external_id,
            "email": member.email,
            "name": member.name,
            "birth_date": member.birth_date.isoformat() if member.birth_date else None,
            "status": member.status,
            "enrolled_at": serializers.DateTimeField().to_representation(member.enrolled_at),
            "tier": None,
            "balance": {
                "available": member.points_available,
                "pending": member.points_pending,
                "held": member.points_held,
                "owed": member.points_owed,
                "lifetime_earned": member.lifetime_earned,
            },
        }


class MemberCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        external_id = ExternalIdField()
        email = serializers.EmailField(required=False, default="", allow_blank=True)
        name = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200, validators=[printable]
        )
        birth_date = serializers.DateField(required=False, allow_null=True, default=None)

        def validate_birth_date(self, value: date | None) -> date | None:
            if value and not date(1900, 1, 1) <= value <= timezone.localdate():
                raise serializers.ValidationError(
                    "A birth date lies between 1900-01-01 and today.", code="out_of_range"
                )
            return value

    @extend_schema(
        request=InputSerializer,
        responses={201: MemberOutputSerializer},
        summary="Enroll a member",
        tags=["members"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_enroll(**serializer.validated_data)
        return Response(MemberOutputSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ShopApi, APIView):
    @extend_schema(responses=MemberOutputSerializer, summary="Get a member", tags=["members"])
    def get(self, request, external_id: str):
        return Response(MemberOutputSerializer(member_by_external_id(external_id)).data)


class MemberTokenApi(ShopApi, APIView):
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField()

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


class MeApi(MemberApi, APIView):
    @extend_schema(responses=MemberOutputSerializer, summary="My profile", tags=["me"])
    def get(self, request):
        return Response(MemberOutputSerializer(request.user.member).data)
