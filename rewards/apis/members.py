"""Enrolling and reading members: the shop's view and the member's own profile."""

from datetime import date

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import StrictDateField, UtcDateTimeField
from members.apis import (
    BalanceSerializer,
    ExternalIdField,
    member_by_external_id,
    printable,
)
from members.auth import MemberApi, ShopApi
from members.models import Member
from members.services import member_language_set
from rewards.services.enrollment import member_enroll
from rewards.services.tiers import member_tier_get


class MemberOutputSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    # Not `format: email`: it is empty when the shop gave none, or after erasure.
    email = serializers.CharField(allow_blank=True, help_text="An e-mail address, or empty.")
    name = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)
    language = serializers.CharField(help_text="sv, da or en; empty: the program's default.")
    status = serializers.ChoiceField(choices=Member.Status.choices)
    enrolled_at = UtcDateTimeField()
    tier = serializers.CharField(allow_null=True, help_text="Null while no tier is configured.")
    balance = BalanceSerializer()

    def to_representation(self, member: Member) -> dict:
        return {
            "external_id": member.external_id,
            "email": member.email,
            "name": member.name,
            "birth_date": member.birth_date.isoformat() if member.birth_date else None,
            "language": member.language,
            "status": member.status,
            "enrolled_at": UtcDateTimeField().to_representation(member.enrolled_at),
            "tier": getattr(member_tier_get(member=member), "name", None),
            "balance": {
                "available": member.points_available,
                "pending": member.points_pending,
                "held": member.points_held,
                "owed": member.points_owed,
                "lifetime_earned": member.lifetime_earned,
            },
        }


class LanguageField(serializers.ChoiceField):
    """A member's language: one the program speaks, or empty for the program's default."""

    def __init__(self, **kwargs):
        super().__init__(
            choices=[code for code, _ in settings.LANGUAGES], allow_blank=True, **kwargs
        )


class MemberCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        external_id = ExternalIdField()
        email = serializers.EmailField(required=False, default="", allow_blank=True)
        name = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200, validators=[printable]
        )
        birth_date = StrictDateField(required=False, allow_null=True, default=None)
        language = LanguageField(required=False, default="")
        referred_by = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=40,
            validators=[printable],
            help_text="The referral code of the member who referred this one.",
        )

        def validate_birth_date(self, value: date | None) -> date | None:
            if value and not date(1900, 1, 1) <= value <= timezone.localdate():
                raise serializers.ValidationError(
                    gettext("A birth date lies between 1900-01-01 and today."), code="out_of_range"
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
        member = member_enroll(**serializer.validated_data, shop=request.user.shop)
        return Response(MemberOutputSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ShopApi, APIView):
    @extend_schema(responses=MemberOutputSerializer, summary="Get a member", tags=["members"])
    def get(self, request, external_id: str):
        return Response(MemberOutputSerializer(member_by_external_id(external_id)).data)


class MemberLanguageApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        language = LanguageField()

    @extend_schema(
        request=InputSerializer,
        responses=MemberOutputSerializer,
        summary="Change the language a member reads",
        tags=["members"],
    )
    def post(self, request, external_id: str):
        member = member_by_external_id(external_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_language_set(member=member, language=serializer.validated_data["language"])
        return Response(MemberOutputSerializer(member).data)


class MeApi(MemberApi, APIView):
    @extend_schema(responses=MemberOutputSerializer, summary="My profile", tags=["me"])
    def get(self, request):
        return Response(MemberOutputSerializer(request.user.member).data)
