"""What a member reads about themselves with their token: balance, ledger, tier,
milestones and the reward catalog."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import UtcDateTimeField, rfc3339
from loyalty_engine.pagination import CursorPage
from members.apis import (
    BalanceSerializer,
)
from members.auth import MemberApi
from members.personal_data import member_export
from rewards.explain import tier_change_text
from rewards.ledger_words import entry_description
from rewards.selectors import (
    ledger_entry_list,
    member_balance_get,
    member_catalog_get,
    member_with_expiring_get,
    milestone_open_list,
    program_get,
)
from rewards.services.milestones import milestones_progress
from rewards.services.referrals import referral_share_get
from rewards.services.tiers import tier_progress_get


class MeBalanceApi(MemberApi, APIView):
    # The member behind the token and its expiring points: one statement (issue 18).
    member_read = staticmethod(member_with_expiring_get)

    class OutputSerializer(BalanceSerializer):
        class ExpiringSerializer(serializers.Serializer):
            points = serializers.IntegerField()
            expires_at = UtcDateTimeField()

        expiring = ExpiringSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="My points balance", tags=["me"])
    def get(self, request):
        balance = member_balance_get(member=request.user.member)
        # The body is built directly, as OutputSerializer (kept for the schema) would build
        # it: a hot read of plain integers and timestamps needs no serializer machinery.
        expiring = [
            {"points": group["points"], "expires_at": rfc3339(group["expires_at"])}
            for group in balance["expiring"]
        ]
        return Response({**balance, "expiring": expiring})


class LedgerPagination(CursorPage):
    ordering = "-id"


class EntryDescriptionField(serializers.CharField):
    def to_representation(self, entry) -> str:
        return entry_description(entry)


class MeTransactionsApi(MemberApi, ListAPIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        points = serializers.IntegerField(help_text="Change to available and pending points.")
        held_change = serializers.IntegerField()
        owed_change = serializers.IntegerField()
        description = EntryDescriptionField(
            source="*", help_text="What the entry says, in the reader's language."
        )
        reference = serializers.CharField()
        occurred_at = UtcDateTimeField(source="effective_at")
        recorded_at = UtcDateTimeField(source="created_at")

    serializer_class = OutputSerializer
    pagination_class = LedgerPagination

    def get_queryset(self):
        return ledger_entry_list(member=self.request.user.member)

    @extend_schema(summary="My points history, newest first", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TierChangeTextField(serializers.CharField):
    def to_representation(self, change) -> str:
        return tier_change_text(change)


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()
    threshold = serializers.DecimalField(max_digits=18, decimal_places=2)
    earn_multiplier = serializers.DecimalField(max_digits=6, decimal_places=3)
    benefits = serializers.ListField(child=serializers.CharField(), source="benefit_list")


class MeTierApi(MemberApi, APIView):
    class OutputSerializer(serializers.Serializer):
        class KeepSerializer(serializers.Serializer):
            threshold = serializers.DecimalField(max_digits=18, decimal_places=2)
            shortfall = serializers.DecimalField(
                max_digits=18, decimal_places=2, help_text="How far below the threshold now."
            )
            drops_below_on = UtcDateTimeField(
                allow_null=True,
                help_text="When old purchases leaving the window take you below the "
                "threshold, if you buy nothing more.",
            )
            grace_ends_at = UtcDateTimeField(
                allow_null=True, help_text="Below the threshold: when you move down."
            )
            moves_down_to = serializers.CharField(allow_null=True, source="moves_down_to.name")

        class ChangeSerializer(serializers.Serializer):
            from_tier = serializers.CharField(allow_null=True, source="from_tier.name")
            to_tier = serializers.CharField(allow_null=True, source="to_tier.name")
            reason = serializers.CharField()
            detail = TierChangeTextField(source="*")
            changed_at = UtcDateTimeField()

        basis = serializers.ChoiceField(choices=["points", "spend"])
        window_months = serializers.IntegerField()
        window_start = UtcDateTimeField()
        qualifying_value = serializers.DecimalField(
            max_digits=18,
            decimal_places=2,
            help_text="Points earned or money spent on purchases in the window, net of refunds.",
        )
        tier = TierSerializer(allow_null=True)
        floor = TierSerializer(allow_null=True, help_text="A tier staff pinned as your minimum.")
        next_tier = TierSerializer(allow_null=True)
        next_needed = serializers.DecimalField(
            max_digits=18, decimal_places=2, allow_null=True, help_text="Still needed for it."
        )
        keep = KeepSerializer(allow_null=True)
        history = ChangeSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="My tier and my progress", tags=["me"])
    def get(self, request):
        progress = tier_progress_get(
            member=request.user.member, program=program_get(), as_of=timezone.now()
        )
        return Response(self.OutputSerializer(progress).data)


class MilestonePagination(CursorPage):
    # A cursor's position is its first ordering field, which must be unique: with ties
    # (kind, target) DRF's `previous` link returns the page it came from.
    ordering = "id"


class MeMilestonesApi(MemberApi, ListAPIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="milestone.pk")
        name = serializers.CharField(source="milestone.name")
        description = serializers.CharField(source="milestone.description")
        kind = serializers.CharField(source="milestone.kind")
        period = serializers.CharField(source="milestone.period")
        period_key = serializers.CharField()
        target = serializers.DecimalField(
            max_digits=18, decimal_places=2, source="milestone.target"
        )
        progress = serializers.DecimalField(max_digits=18, decimal_places=2, source="value")
        remaining = serializers.DecimalField(max_digits=18, decimal_places=2)
        reached = serializers.BooleanField(help_text="Reached in the current period.")
        bonus_points = serializers.IntegerField(allow_null=True, source="milestone.bonus_points")
        reward = serializers.CharField(allow_null=True, source="milestone.reward.name")

    serializer_class = OutputSerializer
    pagination_class = MilestonePagination

    @extend_schema(
        summary="My progress toward each milestone",
        description="The milestones open now that I may reach, in cursor pages.",
        tags=["me"],
    )
    def get(self, request, *args, **kwargs):
        member, moment = request.user.member, timezone.now()
        milestones = self.paginate_queryset(milestone_open_list(member=member, moment=moment))
        progress = milestones_progress(
            member=member, program=program_get(), moment=moment, milestones=milestones
        )
        return self.get_paginated_response(self.get_serializer(progress, many=True).data)


class MeRewardsApi(MemberApi, APIView):
    class OutputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            class ReasonSerializer(serializers.Serializer):
                code = serializers.CharField()
                message = serializers.CharField()

            id = serializers.IntegerField(source="reward.id")
            name = serializers.CharField(source="reward.name")
            description = serializers.CharField(source="reward.description")
            image_url = serializers.CharField(source="reward.image_url")
            points_cost = serializers.IntegerField(source="reward.points_cost")
            stock = serializers.IntegerField(
                source="reward.stock", allow_null=True, help_text="Left to issue; null: unlimited."
            )
            per_member_limit = serializers.IntegerField(
                source="reward.per_member_limit", allow_null=True
            )
            voucher_valid_days = serializers.IntegerField(
                source="reward.voucher_valid_days", allow_null=True
            )
            ends_at = UtcDateTimeField(source="reward.ends_at", allow_null=True)
            tiers = serializers.ListField(
                child=serializers.CharField(), help_text="Empty: members of every tier."
            )
            for_selected_members = serializers.BooleanField(
                help_text="Offered only to members the program selected (a segment)."
            )
            affordable = serializers.BooleanField(help_text="Available points cover the cost.")
            available = serializers.BooleanField(
                help_text="The member may redeem it (points aside)."
            )
            unavailable_reason = ReasonSerializer(allow_null=True)

        points_available = serializers.IntegerField()
        rewards = ItemSerializer(many=True)

    @extend_schema(
        responses=OutputSerializer,
        summary="The reward catalog as I see it: what I can afford, and why not",
        tags=["me"],
    )
    def get(self, request):
        catalog = member_catalog_get(member=request.user.member, as_of=timezone.now())
        return Response(self.OutputSerializer(catalog).data)


def _export_value(value):
    """The export as JSON: times RFC 3339 in UTC with `Z`, decimals as strings."""
    if isinstance(value, dict):
        return {str(key): _export_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_export_value(item) for item in value]
    if isinstance(value, datetime):
        return serializers.DateTimeField().to_representation(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


class MeExportApi(MemberApi, APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="Everything held about me (GDPR data export), as JSON",
        description="Sections: profile, consents, ledger, lots, purchases, refunds, "
        "redemptions, vouchers, tier, tier_history, milestones, awards, referrals, "
        "activities, messages (the emails sent), feedback, and merged_members: the same "
        "sections for each member merged into this one.",
        tags=["me"],
    )
    def get(self, request):
        member = request.user.member
        body = {
            "exported_at": timezone.now(),
            **member_export(member),
        }
        return Response(
            _export_value(body),
            headers={"Content-Disposition": 'attachment; filename="my-data.json"'},
        )


class MeReferralApi(MemberApi, APIView):
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField(help_text="My referral code, for a friend's enrollment.")
        share_url = serializers.CharField(allow_null=True, help_text="The link to share.")
        referrer_points = serializers.IntegerField(help_text="What I get per friend.")
        referred_points = serializers.IntegerField(help_text="What my friend gets.")
        referrals = serializers.IntegerField(help_text="Friends who joined with my code.")
        rewarded = serializers.IntegerField(help_text="Of them, those I was rewarded for.")

    @extend_schema(responses=OutputSerializer, summary="My referral code and link", tags=["me"])
    def get(self, request):
        share = referral_share_get(member=request.user.member, program=program_get())
        return Response(self.OutputSerializer(share).data)
