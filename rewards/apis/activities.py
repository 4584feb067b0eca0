"""Activities that earn points, reported by shops."""

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from members.apis import ExternalIdField, printable
from members.auth import ShopApi
from rewards.apis.common import CLOCK_SKEW, EARLIEST_PURCHASE, request_hash, write_response
from rewards.models import Activity
from rewards.services.activities import activity_record


class ActivityCreateApi(ShopApi, APIView):
    class InputSerializer(serializers.Serializer):
        member = ExternalIdField()
        activity_id = serializers.CharField(max_length=64, validators=[printable])
        type = serializers.SlugField(max_length=50)
        occurred_at = serializers.DateTimeField(required=False, default=None)

        def validate_occurred_at(self, value):
            if value and value > timezone.now() + CLOCK_SKEW:
                raise serializers.ValidationError(
                    _("An activity cannot happen in the future."), code="future_date"
                )
            if value and value < EARLIEST_PURCHASE:
                raise serializers.ValidationError(
                    _("A date before 2000-01-01 is not accepted."), code="too_old"
                )
            return value

    class OutputSerializer(serializers.Serializer):
        activity_id = serializers.CharField()
        member = serializers.CharField()
        type = serializers.CharField()
        occurred_at = serializers.DateTimeField()
        points = serializers.IntegerField(help_text="0 when a cap was reached.")
        capped_by = serializers.ChoiceField(
            choices=[c for c in Activity.Cap.values if c], allow_null=True
        )
        reason = serializers.CharField(allow_null=True, help_text="Why no points, if none.")

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Record an activity that earns points (idempotent by activity_id)",
        tags=["activities"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = activity_record(
            shop=request.user.shop,
            member_external_id=data["member"],
            activity_id=data["activity_id"],
            type_key=data["type"],
            occurred_at=data["occurred_at"],
            request_hash=request_hash(data),
        )
        return write_response(result)
