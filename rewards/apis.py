import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from members.apis import (
    BalanceSerializer,
    ExternalIdField,
    member_by_external_id,
    path_value,
    printable,
)
from members.auth import MemberApi, ShopApi
from members.models import Member
from rewards.currency import decimal_places, is_known_currency, minor_units
from rewards.errors import IdempotencyKeyRequired
from rewards.explain import program_explain
from rewards.models import Voucher
from rewards.selectors import (
    ledger_entry_list,
    member_balance_get,
    member_catalog_get,
    program_get,
    voucher_get,
    voucher_list,
)
from rewards.services.catalog import voucher_use
from rewards.services.enrollment import member_enroll
from rewards.services.idempotency import WriteResult
from rewards.services.milestones import milestones_progress
from rewards.services.purchases import (
    LineInput,
    purchase_preview,
    purchase_record,
    refund_record,
)
from rewards.services.redemptions import (
    redemption_cancel,
    redemption_capture,
    redemption_create,
    redemption_void,
    reward_redeem,
)
from rewards.services.tiers import member_tier_get, tier_progress_get
from rewards.vouchers import DISPLAY_STATUSES, voucher_status_at

# Shops' clocks drift; an occurred_at up to this far ahead of ours is not "the future".
CLOCK_SKEW = timedelta(minutes=5)
# Older purchase dates are data errors, not history worth importing.
EARLIEST_PURCHASE = datetime(2000, 1, 1, tzinfo=UTC)
MAX_POINTS = 1_000_000_000
MAX_ID = 2**63 - 1
REPLAY_HEADER = "Idempotent-Replay"


def request_hash(data: dict) -> str:
    """A stable hash of validated input: the same request always hashes the same."""
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_response(result: WriteResult | tuple[dict, bool], *, created: bool = True) -> Response:
    """201 (or 200) for a fresh write; 200 with Idempotent-Replay: true for a replay."""
    body, replayed = (
        (result.response, result.replayed) if isinstance(result, WriteResult) else result
    )
    if replayed:
        return Response(body, status=status.HTTP_200_OK, headers={REPLAY_HEADER: "true"})
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def money_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=4, **kwargs)


def check_minor_units(value, currency: str, field: str) -> None:
    if decimal_places(value) > minor_units(currency):
        raise serializers.ValidationError(
            {field: [f"{currency} has at most {minor_units(currency)} decimal places."]},
            code="too_many_decimals",
        )


class MemberOutputSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    email = serializers.EmailField()
    name = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=Member.Status.choices)
    enrolled_at = serializers.DateTimeField()
    tier = serializers.CharField(allow_null=True, help_text="Null while no tier is configured.")
    balance = BalanceSerializer()

    def to_representation(self, member: Member) -> dict:
        return {
            "external_id": member.external_id,
            "email": member.email,
            "name": member.name,
            "birth_date": member.birth_date.isoformat() if member.birth_date else None,
            "status": member.status,
            "enrolled_at": serializers.DateTimeField().to_representation(member.enrolled_at),
            "tier": getattr(member_tier_get(member=member), "name", None),
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
        member = member_enroll(**serializer.validated_data, shop=request.user.shop)
        return Response(MemberOutputSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ShopApi, APIView):
    @extend_schema(responses=MemberOutputSerializer, summary="Get a member", tags=["members"])
    def get(self, request, external_id: str):
        return Response(MemberOutputSerializer(member_by_external_id(external_id)).data)


class MeApi(MemberApi, APIView):
    @extend_schema(responses=MemberOutputSerializer, summary="My profile", tags=["me"])
    def get(self, request):
        return Response(MemberOutputSerializer(request.user.member).data)


class EarnItemSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["base", "tier", "rule"])
    rule_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    description = serializers.CharField()
    points = serializers.IntegerField()


class PurchaseCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            sku = serializers.CharField(
                max_length=64, required=False, default="", allow_blank=True, validators=[printable]
            )
            category = serializers.CharField(
                max_length=64, required=False, default="", allow_blank=True, validators=[printable]
            )
            quantity = serializers.DecimalField(
                max_digits=12, decimal_places=3, min_value=Decimal("0.001")
            )
            unit_price = money_field(min_value=Decimal(0))

        member = ExternalIdField()
        order_id = serializers.CharField(max_length=64, validators=[printable])
        amount = money_field(min_value=Decimal("0.0001"))
        currency = serializers.CharField(min_length=3, max_length=3)
        occurred_at = serializers.DateTimeField(required=False, default=None)
        lines = LineSerializer(many=True, required=False, default=list, max_length=500)

        def validate_currency(self, value: str) -> str:
            if not is_known_currency(value):
                raise serializers.ValidationError(
                    "Not an ISO 4217 currency code.", code="unknown_currency"
                )
            return value

        def validate_occurred_at(self, value):
            if value and value > timezone.now() + CLOCK_SKEW:
                raise serializers.ValidationError(
                    "A purchase cannot happen in the future.", code="future_date"
                )
            if value and value < EARLIEST_PURCHASE:
                raise serializers.ValidationError(
                    "A purchase date before 2000-01-01 is not accepted.", code="too_old"
                )
            return value

        def validate(self, data):
            check_minor_units(data["amount"], data["currency"], "amount")
            for index, line in enumerate(data["lines"]):
                check_minor_units(line["unit_price"], data["currency"], f"lines.{index}.unit_price")
            return data

    class OutputSerializer(serializers.Serializer):
        order_id = serializers.CharField()
        points_earned = serializers.IntegerField()
        points_pending = serializers.IntegerField()
        items = EarnItemSerializer(many=True, help_text="Which rule gave how many points.")
        balance = serializers.IntegerField(help_text="Available points after this purchase.")
        tier = serializers.CharField(allow_null=True, help_text="The member's tier after it.")
        tier_changed = serializers.BooleanField()
        milestones_reached = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Record a purchase and earn points (idempotent by order_id)",
        tags=["purchases"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = purchase_record(
            shop=request.user.shop,
            member_external_id=data["member"],
            order_id=data["order_id"],
            amount=data["amount"],
            currency=data["currency"],
            occurred_at=data["occurred_at"],
            lines=[LineInput(**line) for line in data["lines"]],
            request_hash=request_hash(data),
        )
        return write_response(result)


class PurchasePreviewApi(ShopApi, APIView):
    class OutputSerializer(serializers.Serializer):
        points_earned = serializers.IntegerField()
        points_pending = serializers.IntegerField()
        items = EarnItemSerializer(many=True)
        tier = serializers.CharField(allow_null=True)

    @extend_schema(
        request=PurchaseCreateApi.InputSerializer,
        responses=OutputSerializer,
        summary="Preview the points a purchase would earn (writes nothing)",
        tags=["purchases"],
    )
    def post(self, request):
        serializer = PurchaseCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        preview = purchase_preview(
            shop=request.user.shop,
            member_external_id=data["member"],
            amount=data["amount"],
            currency=data["currency"],
            occurred_at=data["occurred_at"],
            lines=[LineInput(**line) for line in data["lines"]],
        )
        return Response(self.OutputSerializer(preview).data)


class RefundCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        refund_id = serializers.CharField(max_length=64, validators=[printable])
        amount = money_field(min_value=Decimal("0.0001"))

    class OutputSerializer(serializers.Serializer):
        refund_id = serializers.CharField()
        order_id = serializers.CharField()
        amount = serializers.DecimalField(max_digits=18, decimal_places=4)
        points_reversed = serializers.IntegerField()
        points_owed = serializers.IntegerField(
            help_text="Points of this refund that were already spent and are now owed."
        )
        balance = serializers.IntegerField()
        owed = serializers.IntegerField(help_text="All points the member owes now.")

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Refund a purchase and take back its points (idempotent by refund_id)",
        tags=["purchases"],
    )
    def post(self, request, order_id: str):
        path_value(order_id, field="order_id")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = refund_record(
            shop=request.user.shop,
            order_id=order_id,
            refund_id=data["refund_id"],
            amount=data["amount"],
            request_hash=request_hash({**data, "order_id": order_id}),
        )
        return write_response(result)


class RewardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RedemptionVoucherSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Show it to the member: `ABCD-EFGH-JKMN-PQRS`.")
    status = serializers.ChoiceField(choices=DISPLAY_STATUSES)
    reward = RewardRefSerializer()
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


class RedemptionOutputSerializer(serializers.Serializer):
    redemption_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["held", "captured", "voided", "expired", "cancelled"])
    points = serializers.IntegerField()
    discount_amount = serializers.DecimalField(max_digits=18, decimal_places=4)
    currency = serializers.CharField()
    order_id = serializers.CharField()
    hold_expires_at = serializers.DateTimeField(allow_null=True)
    balance = serializers.IntegerField(help_text="Available points after this operation.")
    voucher = RedemptionVoucherSerializer(
        required=False, help_text="Only in the redemption of a reward: the voucher issued."
    )


IDEMPOTENCY_KEY = serializers.CharField(min_length=1, max_length=128, validators=[printable])


class RedemptionCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        member = ExternalIdField()
        points = serializers.IntegerField(
            min_value=1, max_value=MAX_POINTS, required=False, help_text="Or reward_id."
        )
        reward_id = serializers.IntegerField(
            min_value=1,
            max_value=MAX_ID,
            required=False,
            help_text="Or points: redeem this catalog reward for its points cost and a voucher.",
        )
        order_id = serializers.CharField(
            max_length=64, required=False, default="", allow_blank=True, validators=[printable]
        )
        hold = serializers.BooleanField(
            required=False, default=False, help_text="Points only: a reward is never held."
        )

        def validate(self, data):
            if "points" in data and "reward_id" in data:
                raise serializers.ValidationError(
                    {"reward_id": ["Send either points or reward_id, not both."]},
                    code="points_or_reward",
                )
            if "points" not in data and "reward_id" not in data:
                raise serializers.ValidationError(
                    {"points": ["Send points, or reward_id to redeem a reward."]},
                    code="required",
                )
            if "reward_id" in data and data["hold"]:
                raise serializers.ValidationError(
                    {"hold": ["A reward is redeemed at once; it cannot be held."]},
                    code="not_with_reward",
                )
            return data

    @extend_schema(
        request=InputSerializer,
        responses={201: RedemptionOutputSerializer, 200: RedemptionOutputSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Unique per redemption; a retry with the same key is replayed.",
            )
        ],
        summary="Redeem points or a catalog reward, or hold points for a later capture",
        tags=["redemptions"],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "")
        try:
            key = IDEMPOTENCY_KEY.run_validation(key)
        except serializers.ValidationError:
            raise IdempotencyKeyRequired() from None
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "reward_id" in data:
            result = reward_redeem(
                shop=request.user.shop,
                member_external_id=data["member"],
                reward_id=data["reward_id"],
                order_id=data["order_id"],
                idempotency_key=key,
                request_hash=request_hash(data),
            )
        else:
            result = redemption_create(
                shop=request.user.shop,
                member_external_id=data["member"],
                points=data["points"],
                order_id=data["order_id"],
                hold=data["hold"],
                idempotency_key=key,
                request_hash=request_hash(data),
            )
        return write_response(result)


_action_schema = {"request": None, "responses": RedemptionOutputSerializer, "tags": ["redemptions"]}


class RedemptionCaptureApi(ShopApi, APIView):
    @extend_schema(summary="Capture a hold (at most once)", **_action_schema)
    def post(self, request, redemption_id):
        result = redemption_capture(shop=request.user.shop, redemption_id=redemption_id)
        return write_response(result, created=False)


class RedemptionVoidApi(ShopApi, APIView):
    @extend_schema(summary="Void a hold and give its points back", **_action_schema)
    def post(self, request, redemption_id):
        result = redemption_void(shop=request.user.shop, redemption_id=redemption_id)
        return write_response(result, created=False)


class RedemptionCancelApi(ShopApi, APIView):
    @extend_schema(
        summary="Cancel a captured redemption; points return to their original lots "
        "(and a reward's unused voucher is cancelled)",
        **_action_schema,
    )
    def post(self, request, redemption_id):
        result = redemption_cancel(shop=request.user.shop, redemption_id=redemption_id)
        return write_response(result, created=False)


class MeBalanceApi(MemberApi, APIView):
    class OutputSerializer(BalanceSerializer):
        class ExpiringSerializer(serializers.Serializer):
            points = serializers.IntegerField()
            expires_at = serializers.DateTimeField()

        expiring = ExpiringSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="My points balance", tags=["me"])
    def get(self, request):
        balance = member_balance_get(member=request.user.member)
        # The body is built directly, as OutputSerializer (kept for the schema) would build
        # it: a hot read of plain integers and timestamps needs no serializer machinery.
        timestamp = serializers.DateTimeField().to_representation
        expiring = [
            {"points": group["points"], "expires_at": timestamp(group["expires_at"])}
            for group in balance["expiring"]
        ]
        return Response({**balance, "expiring": expiring})


class LedgerPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class MeTransactionsApi(MemberApi, ListAPIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        points = serializers.IntegerField(help_text="Change to available and pending points.")
        held_change = serializers.IntegerField()
        owed_change = serializers.IntegerField()
        description = serializers.CharField(source="reason")
        reference = serializers.CharField()
        occurred_at = serializers.DateTimeField(source="effective_at")
        recorded_at = serializers.DateTimeField(source="created_at")

    serializer_class = OutputSerializer
    pagination_class = LedgerPagination

    def get_queryset(self):
        return ledger_entry_list(member=self.request.user.member)

    @extend_schema(summary="My points history, newest first", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


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
            drops_below_on = serializers.DateTimeField(
                allow_null=True,
                help_text="When old purchases leaving the window take you below the "
                "threshold, if you buy nothing more.",
            )
            grace_ends_at = serializers.DateTimeField(
                allow_null=True, help_text="Below the threshold: when you move down."
            )
            moves_down_to = serializers.CharField(allow_null=True, source="moves_down_to.name")

        class ChangeSerializer(serializers.Serializer):
            from_tier = serializers.CharField(allow_null=True, source="from_tier.name")
            to_tier = serializers.CharField(allow_null=True, source="to_tier.name")
            reason = serializers.CharField()
            detail = serializers.CharField()
            changed_at = serializers.DateTimeField()

        basis = serializers.ChoiceField(choices=["points", "spend"])
        window_months = serializers.IntegerField()
        window_start = serializers.DateTimeField()
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


class MeMilestonesApi(MemberApi, APIView):
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

    @extend_schema(
        responses=OutputSerializer(many=True),
        summary="My progress toward each milestone",
        tags=["me"],
    )
    def get(self, request):
        progress = milestones_progress(
            member=request.user.member, program=program_get(), moment=timezone.now()
        )
        return Response(self.OutputSerializer(progress, many=True).data)


class ProgramApi(APIView):
    """Public: the program's rules in plain words, generated from its configuration."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        currency = serializers.CharField()
        earning = serializers.DictField()
        tiers = serializers.DictField()
        milestones = serializers.ListField(child=serializers.DictField())
        expiry = serializers.DictField()
        redeeming = serializers.DictField()

    @extend_schema(
        responses=OutputSerializer,
        summary="The program's rules in plain words",
        tags=["program"],
        auth=[],
    )
    def get(self, request):
        return Response(program_explain(program=program_get()))


# --- vouchers and the catalog -----------------------------------------------------------


class VoucherOutputSerializer(serializers.Serializer):
    class RewardSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        description = serializers.CharField()

    code = serializers.CharField()
    status = serializers.SerializerMethodField(
        help_text="`expired`: issued but past expires_at, so it can no longer be used."
    )
    reward = RewardSerializer()
    member = serializers.CharField(source="member.external_id")
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    used_at = serializers.DateTimeField(allow_null=True)
    used_by = serializers.CharField(
        source="used_by.name", allow_null=True, help_text="The shop where it was used."
    )

    @extend_schema_field(serializers.ChoiceField(choices=DISPLAY_STATUSES))
    def get_status(self, voucher: Voucher) -> str:
        return voucher_status_at(voucher, self.context.get("as_of") or timezone.now())


def voucher_code_path(code: str) -> str:
    return path_value(code, field="code")


class VoucherDetailApi(ShopApi, APIView):
    @extend_schema(
        responses=VoucherOutputSerializer,
        summary="Check a voucher (any shop of the program); case, spaces and hyphens ignored",
        tags=["vouchers"],
    )
    def get(self, request, code: str):
        voucher = voucher_get(code=voucher_code_path(code))
        return Response(VoucherOutputSerializer(voucher).data)


class VoucherUseApi(ShopApi, APIView):
    @extend_schema(
        request=None,
        responses=VoucherOutputSerializer,
        summary="Use a voucher at the till, once only",
        tags=["vouchers"],
    )
    def post(self, request, code: str):
        voucher = voucher_use(shop=request.user.shop, code=voucher_code_path(code))
        return Response(VoucherOutputSerializer(voucher).data)


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
            ends_at = serializers.DateTimeField(source="reward.ends_at", allow_null=True)
            tiers = serializers.ListField(
                child=serializers.CharField(), help_text="Empty: members of every tier."
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


class VoucherPagination(CursorPagination):
    ordering = ("-issued_at", "-id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class MeVouchersApi(MemberApi, ListAPIView):
    serializer_class = VoucherOutputSerializer
    pagination_class = VoucherPagination

    def get_queryset(self):
        return voucher_list(member=self.request.user.member)

    @extend_schema(summary="My vouchers, newest first", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
