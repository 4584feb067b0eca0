"""The program's rules in plain words, public."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import UtcDateTimeField
from rewards.explain import program_explain
from rewards.selectors import (
    program_get,
)


@extend_schema_field({"type": "integer", "nullable": True})
class OptionalMonthsField(serializers.IntegerField):
    """Present only under the policies that have it; null under rolling with no expiry."""


class ProgramApi(APIView):
    """The program's rules in plain words, generated from its configuration: what the
    engine does, from the same rows, so the text cannot drift from it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        """Decimals as strings and times as RFC 3339 `Z`, like every response."""

        class ProgramEarningSerializer(serializers.Serializer):
            class ProgramNotEarningSerializer(serializers.Serializer):
                skus = serializers.ListField(child=serializers.CharField())
                categories = serializers.ListField(child=serializers.CharField())
                points_paid_earns = serializers.BooleanField()
                text = serializers.ListField(child=serializers.CharField())

            class ProgramRuleSerializer(serializers.Serializer):
                id = serializers.IntegerField()
                name = serializers.CharField()
                kind = serializers.CharField()
                text = serializers.CharField()
                description = serializers.CharField(allow_blank=True)
                starts_at = UtcDateTimeField(allow_null=True)
                ends_at = UtcDateTimeField(allow_null=True)

            base_rate = serializers.CharField(help_text="Points per currency unit spent.")
            text = serializers.ListField(child=serializers.CharField())
            how_rules_combine = serializers.ListField(child=serializers.CharField())
            not_earning = ProgramNotEarningSerializer(
                help_text="What earns no points, program-wide (a rule's own exclusions are in "
                "its text)."
            )
            rules = ProgramRuleSerializer(many=True)

        class ProgramTiersSerializer(serializers.Serializer):
            class ProgramLevelSerializer(serializers.Serializer):
                name = serializers.CharField()
                rank = serializers.IntegerField()
                threshold = serializers.DecimalField(max_digits=18, decimal_places=2)
                earn_multiplier = serializers.DecimalField(max_digits=6, decimal_places=3)
                benefits = serializers.ListField(child=serializers.CharField())
                text = serializers.CharField()

            text = serializers.CharField()
            basis = serializers.CharField()
            window_months = serializers.IntegerField()
            grace_days = serializers.IntegerField()
            levels = ProgramLevelSerializer(many=True)

        class ProgramMilestoneSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()
            text = serializers.CharField()

        class ProgramExpirySerializer(serializers.Serializer):
            policy = serializers.CharField(help_text="rolling, fixed, inactivity or never.")
            text = serializers.ListField(child=serializers.CharField())
            # The numbers of the policy in force; each is present only under its policy.
            months = OptionalMonthsField(required=False)
            at_month_end = serializers.BooleanField(required=False)
            period_months = serializers.IntegerField(required=False)
            after_period_months = serializers.IntegerField(required=False)
            redemptions_count = serializers.BooleanField(required=False)

        class ProgramRedeemingSerializer(serializers.Serializer):
            class ProgramRewardSerializer(serializers.Serializer):
                id = serializers.IntegerField()
                name = serializers.CharField()
                points_cost = serializers.IntegerField()
                for_selected_members = serializers.BooleanField(
                    help_text="Offered to members of certain segments only."
                )

            text = serializers.ListField(child=serializers.CharField())
            point_value = serializers.DecimalField(
                max_digits=12, decimal_places=4, help_text="Currency off per point."
            )
            max_points_share_percent = serializers.CharField(
                allow_null=True, help_text="The largest share of an order points may pay."
            )
            min_points = serializers.IntegerField(allow_null=True)
            step_points = serializers.IntegerField(allow_null=True)
            rewards = ProgramRewardSerializer(many=True)

        name = serializers.CharField()
        currency = serializers.CharField()
        earning = ProgramEarningSerializer()
        tiers = ProgramTiersSerializer()
        milestones = ProgramMilestoneSerializer(many=True)
        expiry = ProgramExpirySerializer()
        redeeming = ProgramRedeemingSerializer()

    @extend_schema(
        responses=OutputSerializer,
        summary="The program's rules in plain words",
        tags=["program"],
        auth=[],
    )
    def get(self, request):
        return Response(self.OutputSerializer(program_explain(program=program_get())).data)


# --- vouchers and the catalog -----------------------------------------------------------
