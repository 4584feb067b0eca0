"""Vouchers: checking and using one at the till, and a member's own list."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty_engine.fields import UtcDateTimeField
from loyalty_engine.pagination import CursorPage
from loyalty_engine.throttling import CountsFailures, VoucherMissThrottle
from members.apis import (
    path_value,
)
from members.auth import MemberApi, ShopApi
from rewards.models import Voucher
from rewards.selectors import (
    voucher_get,
    voucher_list,
)
from rewards.services.catalog import voucher_use
from rewards.vouchers import DISPLAY_STATUSES, voucher_status_at


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
    issued_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(allow_null=True)
    used_at = UtcDateTimeField(allow_null=True)
    used_by = serializers.CharField(
        source="used_by.name", allow_null=True, help_text="The shop where it was used."
    )

    @extend_schema_field(serializers.ChoiceField(choices=DISPLAY_STATUSES))
    def get_status(self, voucher: Voucher) -> str:
        return voucher_status_at(voucher, self.context.get("as_of") or timezone.now())


def voucher_code_path(code: str) -> str:
    return path_value(code, field="code")


class VoucherDetailApi(CountsFailures, ShopApi, APIView):
    # Unknown codes count against the shop: guessing codes is refused with 429.
    throttle_classes = [VoucherMissThrottle]

    @extend_schema(
        responses=VoucherOutputSerializer,
        summary="Check a voucher (any shop of the program); case, spaces and hyphens ignored",
        tags=["vouchers"],
    )
    def get(self, request, code: str):
        voucher = voucher_get(code=voucher_code_path(code))
        return Response(VoucherOutputSerializer(voucher).data)


class VoucherUseApi(CountsFailures, ShopApi, APIView):
    throttle_classes = [VoucherMissThrottle]

    @extend_schema(
        request=None,
        responses=VoucherOutputSerializer,
        summary="Use a voucher at the till, once only",
        tags=["vouchers"],
    )
    def post(self, request, code: str):
        voucher = voucher_use(shop=request.user.shop, code=voucher_code_path(code))
        return Response(VoucherOutputSerializer(voucher).data)


class VoucherPagination(CursorPage):
    ordering = ("-issued_at", "-id")


class MeVouchersApi(MemberApi, ListAPIView):
    serializer_class = VoucherOutputSerializer
    pagination_class = VoucherPagination

    def get_queryset(self):
        return voucher_list(member=self.request.user.member)

    @extend_schema(summary="My vouchers, newest first", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
