import csv
import io
from datetime import date, timedelta

from django.core.validators import RegexValidator
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import (
    IdentifierField,
    StrictDateField,
    StrictDateTimeField,
    StrictIntegerField,
    UtcDateTimeField,
)
from loyalty_engine.pagination import CursorPage
from loyalty_engine.staff_auth import StaffTokenAuthentication
from loyalty_engine.throttling import FeedbackThrottle
from members.apis import ExternalIdField, member_by_external_id, printable
from members.auth import ShopApi, StaffCredentialExpected
from members.models import Segment, Shop
from metrics.definitions import DEFINITIONS
from metrics.models import Feedback, KpiSnapshot
from metrics.periods import Granularity, period_count
from metrics.predictions.selectors import member_prediction_get
from metrics.selectors import (
    cohort_list,
    cohort_rows_get,
    kpi_snapshot_list,
    member_lifetime_value_get,
    referral_kpis_get,
)
from metrics.services import SNAPSHOT_FIGURES, feedback_record
from rewards.apis.common import CLOCK_SKEW, EARLIEST_PURCHASE, request_hash, write_response
from rewards.models import Tier
from rewards.selectors import program_get

PREDICTION_FIELDS = (
    "p_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "predicted_clv_12m",
)
# A request reads at most this many periods: about 2.7 years of days, 19 of weeks.
MAX_PERIODS = 1000
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)
# Comments may span lines, but NUL breaks PostgreSQL text columns.
no_nul = RegexValidator(r"^[^\x00]*$", "Remove the NUL characters.", code="invalid_characters")


class StaffApi:
    """Mixin for the staff's views: a session of the admin, or `Authorization: Token <key>`
    from `manage.py drf_create_token <username>`; the user must be staff. Shops and members
    are refused."""

    authentication_classes = [
        StaffTokenAuthentication,
        SessionAuthentication,
        StaffCredentialExpected,
    ]
    permission_classes = [IsAdminUser]


class DayRangeSerializer(serializers.Serializer):
    """`from` and `to` (both included), in the program's time zone; by default the last
    twelve months."""

    to = StrictDateField(required=False, help_text="Last day (default: today).")

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword, so it can't be a class attribute.
        fields["from"] = StrictDateField(
            required=False, help_text="First day (default: a year before `to`)."
        )
        return fields

    def validate(self, data):
        for name in ("from", "to"):
            if name in data and not EARLIEST_DAY <= data[name] <= LATEST_DAY:
                raise serializers.ValidationError(
                    {name: [f"Use a day between {EARLIEST_DAY} and {LATEST_DAY}."]},
                    code="out_of_range",
                )
        last = data.get("to") or timezone.now().astimezone(program_get().tz).date()
        first = data.get("from") or (last - timedelta(days=365))
        if first > last:
            raise serializers.ValidationError(
                {"from": ["`from` is after `to`."]}, code="from_after_to"
            )
        return {**data, "first": first, "last": last}


class KpiQuerySerializer(DayRangeSerializer):
    granularity = serializers.ChoiceField(
        choices=Granularity.ALL, default=Granularity.MONTH, help_text="The length of a period."
    )
    tier = serializers.CharField(
        required=False,
        max_length=50,
        validators=[printable],
        help_text="A tier's name or id: the members in it at the start of each period.",
    )
    shop = serializers.CharField(
        required=False,
        max_length=200,
        validators=[printable],
        help_text="A shop's name or id: its purchases, points and feedback.",
    )
    segment = serializers.CharField(
        required=False,
        max_length=200,
        validators=[printable],
        help_text="A segment's name or id: the retention and churn of its members on the "
        "first day of each period (the other figures are null). Periods in which it had no "
        "members are absent.",
    )

    def validate_tier(self, value: str) -> Tier:
        tier = _by_name_or_id(Tier, value)
        if tier is None:
            raise serializers.ValidationError("No tier has this name or id.", code="unknown_tier")
        return tier

    def validate_shop(self, value: str) -> Shop:
        shop = _by_name_or_id(Shop, value)
        if shop is None:
            raise serializers.ValidationError("No shop has this name or id.", code="unknown_shop")
        return shop

    def validate_segment(self, value: str) -> Segment:
        segment = _by_name_or_id(Segment, value)
        if segment is None:
            raise serializers.ValidationError(
                "No segment has this name or id.", code="unknown_segment"
            )
        return segment

    def validate(self, data):
        data = super().validate(data)
        if "tier" in data and "shop" in data:
            raise serializers.ValidationError(
                {"shop": ["Ask for a tier or a shop, not both."]}, code="tier_or_shop"
            )
        if "segment" in data and ("tier" in data or "shop" in data):
            raise serializers.ValidationError(
                {"segment": ["Ask for a segment alone, not with a tier or a shop."]},
                code="segment_alone",
            )
        if period_count(data["granularity"], data["first"], data["last"]) > MAX_PERIODS:
            raise serializers.ValidationError(
                {
                    "from": [
                        f"The range holds more than {MAX_PERIODS} periods of a "
                        f"{data['granularity']}; ask for a shorter range or a longer "
                        "granularity."
                    ]
                },
                code="range_too_long",
            )
        return data


def _by_name_or_id(model, value: str):
    if value.isdigit():
        return model.objects.filter(pk=int(value)).first() if len(value) < 19 else None
    return model.objects.filter(name=value).first()


class TierCountSerializer(serializers.Serializer):
    tier = serializers.CharField(allow_null=True, help_text="Null: members without a tier.")
    members = serializers.IntegerField()


def _snapshot_output_fields() -> dict:
    """One output field per stored figure, described by its definition."""
    fields = {}
    for name in SNAPSHOT_FIGURES:
        definition = DEFINITIONS.get(name)
        kind = definition.kind if definition else "points"
        described = {"help_text": definition.text} if definition else {}
        if name == "tier_distribution":
            field = TierCountSerializer(many=True, allow_null=True, **described)
        elif kind in ("rate", "ratio"):
            field = serializers.DecimalField(
                max_digits=7, decimal_places=2, allow_null=True, **described
            )
        elif kind == "money":
            field = serializers.DecimalField(
                max_digits=20, decimal_places=2, allow_null=True, **described
            )
        else:
            field = serializers.IntegerField(allow_null=True, **described)
        fields[name] = field
    return fields


class KpiSnapshotSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="First day of the next period (excluded).")
    granularity = serializers.ChoiceField(choices=Granularity.ALL)
    breakdown = serializers.ChoiceField(choices=KpiSnapshot.Breakdown.values)
    tier = serializers.CharField(source="tier.name", allow_null=True, default=None)
    shop = serializers.CharField(source="shop.name", allow_null=True, default=None)
    segment = serializers.CharField(
        source="segment.name",
        allow_null=True,
        default=None,
        help_text="The segment's name, for breakdown segment.",
    )
    segment_id = serializers.IntegerField(
        allow_null=True, help_text="The segment's id (GET /api/v1/segments), for breakdown segment."
    )
    computed_at = UtcDateTimeField()
    locals().update(_snapshot_output_fields())


class KpiPagination(CursorPage):
    ordering = ("period_start", "id")
    page_size = 100
    max_page_size = MAX_PERIODS


class KpiListApi(StaffApi, ListAPIView):
    serializer_class = KpiSnapshotSerializer
    pagination_class = KpiPagination

    def get_queryset(self):
        query = KpiQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return _snapshots(query.validated_data)

    @extend_schema(
        parameters=[KpiQuerySerializer],
        summary="KPI snapshots per period, for all members, a tier, a shop or a segment",
        description="Rates are percentages with two decimals; a rate without a denominator "
        "is null. Periods not computed yet are absent (`manage.py recompute_kpis`). "
        "Cursor pages, oldest period first, like every list of the API.",
        tags=["metrics"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _snapshots(data: dict):
    return kpi_snapshot_list(
        granularity=data["granularity"],
        first=data["first"],
        last=data["last"],
        tier=data.get("tier"),
        shop=data.get("shop"),
        segment=data.get("segment"),
    )


CSV_COLUMNS = [
    "period_start",
    "period_end",
    "granularity",
    "breakdown",
    "tier",
    "shop",
    "segment",
    "segment_id",
    *SNAPSHOT_FIGURES,
]


class KpiCsvApi(StaffApi, APIView):
    def perform_content_negotiation(self, request, force=False):
        # The body is CSV whatever the Accept header says; errors stay JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[KpiQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
        summary="The KPI snapshots as CSV, one row per period",
        tags=["metrics"],
    )
    def get(self, request):
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = KpiSnapshotSerializer(_snapshots(query.validated_data), many=True).data
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            distribution = row["tier_distribution"]
            writer.writerow(
                {
                    **row,
                    "tier_distribution": "; ".join(
                        f"{item['tier'] or 'no tier'}={item['members']}" for item in distribution
                    )
                    if distribution is not None
                    else "",
                }
            )
        data = query.validated_data
        name = f"kpis-{data['granularity']}-{data['first']}-{data['last']}.csv"
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class CohortPagination(CursorPage):
    ordering = "cohort"


class CohortListApi(StaffApi, ListAPIView):
    class OutputSerializer(serializers.Serializer):
        class MonthSerializer(serializers.Serializer):
            month = serializers.DateField()
            offset = serializers.IntegerField(help_text="Months since enrollment (0: same).")
            active = serializers.IntegerField(
                help_text="Members of the cohort with a purchase, not fully refunded, in it."
            )
            retention_rate = serializers.DecimalField(
                max_digits=7, decimal_places=2, allow_null=True
            )

        cohort = serializers.DateField(help_text="First day of the enrollment month.")
        members = serializers.IntegerField(help_text="Members who enrolled in that month.")
        months = MonthSerializer(many=True)

    serializer_class = OutputSerializer
    pagination_class = CohortPagination

    def get_queryset(self):
        query = DayRangeSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if period_count(Granularity.MONTH, data["first"], data["last"]) > MAX_PERIODS:
            raise serializers.ValidationError(
                {"from": [f"The range holds more than {MAX_PERIODS} months."]},
                code="range_too_long",
            )
        return cohort_list(first=data["first"], last=data["last"])

    @extend_schema(
        parameters=[DayRangeSerializer],
        summary="Cohort retention: for each monthly enrollment cohort, the share active in "
        "each following month",
        description=DEFINITIONS["cohort_retention"].text
        + "\n\nCursor pages, oldest cohort first, like every list of the API.",
        tags=["metrics"],
    )
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = cohort_rows_get(cohorts=[row["cohort"] for row in page])
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


class MemberValueApi(StaffApi, APIView):
    class OutputSerializer(serializers.Serializer):
        external_id = serializers.CharField()
        enrolled_at = UtcDateTimeField()
        purchases = serializers.IntegerField()
        purchase_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
        refund_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
        net_revenue = serializers.DecimalField(
            max_digits=20,
            decimal_places=2,
            help_text="The member's historical lifetime value: purchases minus refunds.",
        )
        p_alive = serializers.FloatField(
            allow_null=True,
            help_text="Probability the member is still a customer (BG/NBD), as of the last "
            "fit; null for a member with no purchase then, or before the first fit.",
        )
        expected_purchases_90d = serializers.FloatField(allow_null=True)
        expected_purchases_365d = serializers.FloatField(allow_null=True)
        predicted_clv_12m = serializers.DecimalField(
            max_digits=20,
            decimal_places=2,
            allow_null=True,
            help_text="Expected purchases in 365 days × expected spend per purchase, in the "
            "program's currency.",
        )

    @extend_schema(
        responses=OutputSerializer,
        summary="A member's historical lifetime value",
        tags=["metrics"],
    )
    def get(self, request, external_id: str):
        member = member_by_external_id(external_id)
        value = member_lifetime_value_get(member=member)
        prediction = member_prediction_get(member=member)
        body = {
            "external_id": member.external_id,
            "enrolled_at": member.enrolled_at,
            **value,
            **{name: getattr(prediction, name, None) for name in PREDICTION_FIELDS},
        }
        return Response(self.OutputSerializer(body).data)


class FeedbackCreateApi(ShopApi, APIView):
    throttle_classes = [FeedbackThrottle]

    class InputSerializer(serializers.Serializer):
        member = ExternalIdField()
        kind = serializers.ChoiceField(choices=Feedback.Kind.choices)
        score = StrictIntegerField(
            min_value=0, max_value=10, help_text="nps: 0 to 10; csat: 1 to 5."
        )
        comment = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=2000,
            validators=[no_nul],
        )
        answered_at = StrictDateTimeField(required=False, default=None, help_text="Default: now.")
        feedback_id = IdentifierField(
            required=False,
            default=None,
            help_text="Optional, unique per shop: posting it again replays the first answer.",
        )

        def validate_answered_at(self, value):
            if value and value > timezone.now() + CLOCK_SKEW:
                raise serializers.ValidationError(
                    "An answer cannot be given in the future.", code="future_date"
                )
            if value and value < EARLIEST_PURCHASE:
                raise serializers.ValidationError(
                    "An answer dated before 2000-01-01 is not accepted.", code="too_old"
                )
            return value

        def validate(self, data):
            low, high = Feedback.SCALES[data["kind"]]
            if not low <= data["score"] <= high:
                raise serializers.ValidationError(
                    {"score": [f"A {data['kind']} score is from {low} to {high}."]},
                    code="out_of_range",
                )
            return data

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        feedback_id = serializers.CharField(allow_null=True)
        member = serializers.CharField()
        kind = serializers.ChoiceField(choices=Feedback.Kind.choices)
        score = serializers.IntegerField()
        comment = serializers.CharField()
        answered_at = UtcDateTimeField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Record a member's survey answer (NPS 0-10 or CSAT 1-5)",
        tags=["feedback"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = feedback_record(
            shop=request.user.shop,
            member_external_id=data["member"],
            kind=data["kind"],
            score=data["score"],
            comment=data["comment"],
            answered_at=data["answered_at"],
            feedback_id=data["feedback_id"],
            request_hash=request_hash(data),
        )
        return write_response(result)


class ReferralKpiApi(StaffApi, APIView):
    class OutputSerializer(serializers.Serializer):
        to = serializers.DateField()
        referrals = serializers.IntegerField(help_text="Members who enrolled with a code.")
        rewarded = serializers.IntegerField(help_text="Referrals whose bonuses were given.")
        capped = serializers.IntegerField(help_text="Referrals past the referrer's yearly cap.")
        void = serializers.IntegerField(help_text="Referrals whose first purchase was refunded.")
        points = serializers.IntegerField(help_text="Referral bonus points given.")

        def get_fields(self):
            # `from` is a Python keyword, so it can't be a class attribute.
            return {"from": serializers.DateField(), **super().get_fields()}

    @extend_schema(
        parameters=[DayRangeSerializer],
        responses=OutputSerializer,
        summary="Referral figures of a range of days",
        tags=["metrics"],
    )
    def get(self, request):
        query = DayRangeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        figures = referral_kpis_get(
            first=query.validated_data["first"],
            last=query.validated_data["last"],
            tz=program_get().tz,
        )
        return Response(self.OutputSerializer(figures).data)
