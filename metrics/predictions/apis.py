from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.apis import StaffApi
from metrics.predictions.selectors import prediction_fit_current_get


class PredictionModelApi(StaffApi, APIView):
    class BgNbdSerializer(serializers.Serializer):
        r = serializers.FloatField()
        alpha = serializers.FloatField()
        a = serializers.FloatField()
        b = serializers.FloatField()
        log_likelihood = serializers.FloatField(source="bg_nbd_log_likelihood")

    class GammaGammaSerializer(serializers.Serializer):
        p = serializers.FloatField()
        q = serializers.FloatField()
        gamma = serializers.FloatField()
        log_likelihood = serializers.FloatField(source="gamma_gamma_log_likelihood")

    class HoldoutGroupSerializer(serializers.Serializer):
        repeat_purchases = serializers.CharField(help_text="0, 1, …, 6 or 7+.")
        members = serializers.IntegerField()
        predicted = serializers.FloatField(help_text="Mean predicted purchases in the weeks.")
        actual = serializers.FloatField(help_text="Mean actual purchases in the weeks.")

    class HoldoutSerializer(serializers.Serializer):
        weeks = serializers.IntegerField()
        calibration_end = serializers.DateField()
        members = serializers.IntegerField()
        predicted = serializers.FloatField()
        actual = serializers.FloatField()
        by_frequency = serializers.ListField(child=serializers.DictField())

    class OutputSerializer(serializers.Serializer):
        as_of = serializers.DateField(help_text="Last day of purchases the fit counted.")
        time_unit = serializers.CharField()
        members = serializers.IntegerField()
        repeat_members = serializers.IntegerField()
        fitted_at = serializers.DateTimeField(source="created_at")
        bg_nbd = serializers.SerializerMethodField()
        gamma_gamma = serializers.SerializerMethodField()
        holdout = serializers.JSONField(allow_null=True)

        def get_bg_nbd(self, fit) -> dict:
            return PredictionModelApi.BgNbdSerializer(fit).data

        def get_gamma_gamma(self, fit) -> dict:
            return PredictionModelApi.GammaGammaSerializer(fit).data

    @extend_schema(
        responses={
            200: OutputSerializer,
            404: OpenApiResponse(description="model_not_fitted: no fit has converged yet."),
        },
        summary="The current prediction model: parameters and holdout check",
        tags=["metrics"],
    )
    def get(self, request):
        return Response(self.OutputSerializer(prediction_fit_current_get()).data)
