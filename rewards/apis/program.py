"""The program's rules in plain words, public."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from rewards.explain import program_explain
from rewards.selectors import (
    program_get,
)


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
