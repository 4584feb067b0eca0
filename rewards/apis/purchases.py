"""Purchases that earn points, their preview, and refunds that take points back."""

from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import (
    CopiedFieldsMixin,
    IdentifierField,
    MoneyStringField,
    PlainInputMixin,
    StrictDateTimeField,
    StrictDecimalField,
)
from members.apis import (
    ExternalIdField,
    path_value,
    printable,
)
from members.auth import ShopApi
from rewards.apis.common import (
    CLOCK_SKEW,
    EARLIEST_PURCHASE,
    check_minor_units,
    money_field,
    request_hash,
    write_response,
)
from rewards.currency import is_known_currency
from rewards.services.purchases import (
    LineInput,
    purchase_preview,
    purchase_record,
    refund_record,
)


class EarnItemSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["base", "tier", "rule"])
    rule_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    description = serializers.CharField()
    points = serializers.IntegerField()


class ExcludedLineSerializer(serializers.Serializer):
    sku = serializers.CharField(help_text="Empty for the part paid with points.")
    category = serializers.CharField()
    amount = serializers.CharField(help_text="In the currency's minor units, as a string.")
    rule_id = serializers.IntegerField(
        allow_null=True, help_text="The rule that leaves the line out; null: the program."
    )
    reason = serializers.CharField()


EXCLUDED = ExcludedLineSerializer(
    many=True,
    required=False,
    help_text="Present when something earns nothing: each excluded line, the part paid with "
    "points, and lines a rule left out, with why.",
)


class PurchaseCreateApi(ShopApi, APIView):
    class InputSerializer(PlainInputMixin, CopiedFieldsMixin, serializers.Serializer):
        # What a shop's till sends on nearly every earn (issue 18).
        plain_fields = frozenset({"member", "order_id", "amount", "currency"})

        class LineSerializer(serializers.Serializer):
            sku = serializers.CharField(
                max_length=64, required=False, default="", allow_blank=True, validators=[printable]
            )
            category = serializers.CharField(
                max_length=64, required=False, default="", allow_blank=True, validators=[printable]
            )
            quantity = StrictDecimalField(
                max_digits=12, decimal_places=3, min_value=Decimal("0.001")
            )
            unit_price = money_field(min_value=Decimal(0))

        member = ExternalIdField()
        order_id = IdentifierField()
        amount = money_field(min_value=Decimal("0.0001"))
        currency = serializers.CharField(min_length=3, max_length=3)
        occurred_at = StrictDateTimeField(required=False, default=None)
        lines = LineSerializer(many=True, required=False, default=list, max_length=500)
        redemption_id = serializers.UUIDField(
            required=False,
            help_text="The member's redemption that paid part of this order: that part earns "
            "no points (unless the program lets it).",
        )
        points_paid_amount = money_field(
            min_value=Decimal(0),
            required=False,
            help_text="Or: the amount of this order paid with points.",
        )

        def validate_currency(self, value: str) -> str:
            if not is_known_currency(value):
                raise serializers.ValidationError(
                    gettext("Not an ISO 4217 currency code."), code="unknown_currency"
                )
            return value

        def validate_occurred_at(self, value):
            if value and value > timezone.now() + CLOCK_SKEW:
                raise serializers.ValidationError(
                    gettext("A purchase cannot happen in the future."), code="future_date"
                )
            if value and value < EARLIEST_PURCHASE:
                raise serializers.ValidationError(
                    gettext("A purchase date before 2000-01-01 is not accepted."), code="too_old"
                )
            return value

        def validate(self, data):
            check_minor_units(data["amount"], data["currency"], "amount")
            if "redemption_id" in data and "points_paid_amount" in data:
                raise serializers.ValidationError(
                    {"points_paid_amount": ["Send redemption_id or points_paid_amount, not both."]},
                    code="redemption_or_amount",
                )
            if "points_paid_amount" in data:
                paid = data["points_paid_amount"]
                check_minor_units(paid, data["currency"], "points_paid_amount")
                if paid > data["amount"]:
                    raise serializers.ValidationError(
                        {"points_paid_amount": ["More than the purchase amount."]},
                        code="exceeds_amount",
                    )
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
        excluded = EXCLUDED

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Record a purchase and earn points (idempotent by order_id)",
        tags=["purchases"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        data = serializer.plain_validated_data()
        if data is None:
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
            redemption_id=data.get("redemption_id"),
            points_paid_amount=data.get("points_paid_amount"),
        )
        return write_response(result)


class PurchasePreviewApi(ShopApi, APIView):
    class OutputSerializer(serializers.Serializer):
        points_earned = serializers.IntegerField()
        points_pending = serializers.IntegerField()
        items = EarnItemSerializer(many=True)
        tier = serializers.CharField(allow_null=True)
        excluded = EXCLUDED

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
            redemption_id=data.get("redemption_id"),
            points_paid_amount=data.get("points_paid_amount"),
        )
        return Response(self.OutputSerializer(preview).data)


class RefundCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        refund_id = IdentifierField()
        amount = money_field(min_value=Decimal("0.0001"))

    class OutputSerializer(serializers.Serializer):
        refund_id = serializers.CharField()
        order_id = serializers.CharField()
        amount = MoneyStringField(help_text="In the purchase currency's minor units.")
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
