import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from members.apis import BalanceSerializer, ExternalIdField, path_value, printable
from members.auth import MemberApi, ShopApi
from rewards.currency import decimal_places, is_known_currency, minor_units
from rewards.errors import IdempotencyKeyRequired
from rewards.models import Voucher
from rewards.selectors import (
    ledger_entry_list,
    member_balance_get,
    member_catalog_get,
    voucher_get,
    voucher_list,
)
from rewards.services.catalog import voucher_use
from rewards.services.idempotency import WriteResult
from rewards.services.purchases import LineInput, purchase_record, refund_record
from rewards.services.redemptions import (
    redemption_cancel,
    redemption_capture,
    redemption_create,
    redemption_void,
    reward_redeem,
)
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
        balance = serializers.IntegerField(help_text="Available points after this purchase.")

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
        return Response(self.OutputSerializer(balance).data)


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
