"""Spending points: redemptions, holds and their capture, void and cancel."""

from decimal import Decimal

from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.views import APIView

from loyalty_engine.fields import (
    IDENTIFIER_PATTERN,
    CopiedFieldsMixin,
    IdentifierField,
    MoneyStringField,
    PlainInputMixin,
    StrictIntegerField,
    UtcDateTimeField,
)
from members.apis import ExternalIdField
from members.auth import ShopApi
from rewards.apis.common import MAX_ID, MAX_POINTS, money_field, request_hash, write_response
from rewards.errors import IdempotencyKeyRequired
from rewards.services.redemptions import (
    redemption_cancel,
    redemption_capture,
    redemption_create,
    redemption_void,
    reward_redeem,
)
from rewards.vouchers import DISPLAY_STATUSES


class RewardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RedemptionVoucherSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Show it to the member: `ABCD-EFGH-JKMN-PQRS`.")
    status = serializers.ChoiceField(choices=DISPLAY_STATUSES)
    reward = RewardRefSerializer()
    issued_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(allow_null=True)


class RedemptionOutputSerializer(serializers.Serializer):
    redemption_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["held", "captured", "voided", "expired", "cancelled"])
    points = serializers.IntegerField()
    discount_amount = MoneyStringField(help_text='In the currency\'s minor units: "0.10".')
    currency = serializers.CharField()
    order_id = serializers.CharField()
    hold_expires_at = UtcDateTimeField(allow_null=True)
    balance = serializers.IntegerField(help_text="Available points after this operation.")
    voucher = RedemptionVoucherSerializer(
        required=False, help_text="Only in the redemption of a reward: the voucher issued."
    )


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = IdentifierField(
    max_length=128,
    error_messages={
        "blank": gettext_lazy("The key is empty."),
        "max_length": gettext_lazy("The key is longer than {max_length} characters."),
    },
)


def idempotency_key_get(request) -> str:
    """The request's Idempotency-Key. A missing or malformed one is refused with the code
    `idempotency_key_required`, which predates the rules on a key's characters and stays
    for the clients that branch on it: the message says what is wrong with a key that was
    sent, and `fields` names the header."""
    sent = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    try:
        return IDEMPOTENCY_KEY.run_validation(empty if sent is None else sent)
    except serializers.ValidationError as error:
        problems = [{"code": detail.code, "message": str(detail)} for detail in error.detail]
        message = None
        if sent is not None:
            message = gettext("The Idempotency-Key header you sent is malformed. %(problems)s") % {
                "problems": " ".join(problem["message"] for problem in problems)
            }
        raise IdempotencyKeyRequired(
            message, extra={"fields": {IDEMPOTENCY_KEY_HEADER: problems}}
        ) from None


class RedemptionCreateApi(ShopApi, APIView):
    class InputSerializer(PlainInputMixin, CopiedFieldsMixin, serializers.Serializer):
        # What a till sends to spend points (issue 18): no reward, no order total.
        plain_fields = frozenset({"member", "points", "order_id", "hold"})

        member = ExternalIdField()
        points = StrictIntegerField(
            min_value=1, max_value=MAX_POINTS, required=False, help_text="Or reward_id."
        )
        reward_id = StrictIntegerField(
            min_value=1,
            max_value=MAX_ID,
            required=False,
            help_text="Or points: redeem this catalog reward for its points cost and a voucher.",
        )
        order_id = IdentifierField(required=False, default="", allow_blank=True)
        hold = serializers.BooleanField(
            required=False, default=False, help_text="Points only: a reward is never held."
        )
        order_total = money_field(
            min_value=Decimal("0.0001"),
            required=False,
            help_text="Points only: the order's total, so the program's most share of an "
            "order payable with points applies (points + cash).",
        )

        def validate(self, data):
            if "points" in data and "reward_id" in data:
                raise serializers.ValidationError(
                    {"reward_id": [gettext("Send either points or reward_id, not both.")]},
                    code="points_or_reward",
                )
            if "points" not in data and "reward_id" not in data:
                raise serializers.ValidationError(
                    {"points": [gettext("Send points, or reward_id to redeem a reward.")]},
                    code="required",
                )
            if "reward_id" in data and "order_total" in data:
                raise serializers.ValidationError(
                    {"order_total": ["A reward costs its points; order_total is for points."]},
                    code="not_with_reward",
                )
            if "reward_id" in data and data["hold"]:
                raise serializers.ValidationError(
                    {"hold": [gettext("A reward is redeemed at once; it cannot be held.")]},
                    code="not_with_reward",
                )
            return data

    @extend_schema(
        request=InputSerializer,
        responses={201: RedemptionOutputSerializer, 200: RedemptionOutputSerializer},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_KEY_HEADER,
                {"type": "string", "minLength": 1, "maxLength": 128, "pattern": IDENTIFIER_PATTERN},
                OpenApiParameter.HEADER,
                required=True,
                description="Unique per redemption; a retry with the same key is replayed. "
                "1 to 128 characters, no `/`, nothing invisible or unassigned. Missing or "
                "malformed: 400 `idempotency_key_required`, `fields` naming the header.",
            )
        ],
        summary="Redeem points or a catalog reward, or hold points for a later capture",
        tags=["redemptions"],
    )
    def post(self, request):
        key = idempotency_key_get(request)
        serializer = self.InputSerializer(data=request.data)
        data = serializer.plain_validated_data()
        if data is None:
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
                order_total=data.get("order_total"),
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
