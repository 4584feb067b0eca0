from django.urls import path

from rewards import apis

urlpatterns = [
    path("members", apis.MemberCreateApi.as_view(), name="member-create"),
    path("members/<str:external_id>", apis.MemberDetailApi.as_view(), name="member-detail"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("program", apis.ProgramApi.as_view(), name="program"),
    path("purchases", apis.PurchaseCreateApi.as_view(), name="purchase-create"),
    path("purchases/preview", apis.PurchasePreviewApi.as_view(), name="purchase-preview"),
    path("purchases/<str:order_id>/refunds", apis.RefundCreateApi.as_view(), name="refund-create"),
    path("redemptions", apis.RedemptionCreateApi.as_view(), name="redemption-create"),
    path(
        "redemptions/<uuid:redemption_id>/capture",
        apis.RedemptionCaptureApi.as_view(),
        name="redemption-capture",
    ),
    path(
        "redemptions/<uuid:redemption_id>/void",
        apis.RedemptionVoidApi.as_view(),
        name="redemption-void",
    ),
    path(
        "redemptions/<uuid:redemption_id>/cancel",
        apis.RedemptionCancelApi.as_view(),
        name="redemption-cancel",
    ),
    path("vouchers/<str:code>", apis.VoucherDetailApi.as_view(), name="voucher-detail"),
    path("vouchers/<str:code>/use", apis.VoucherUseApi.as_view(), name="voucher-use"),
    path("me/balance", apis.MeBalanceApi.as_view(), name="me-balance"),
    path("me/transactions", apis.MeTransactionsApi.as_view(), name="me-transactions"),
    path("me/tier", apis.MeTierApi.as_view(), name="me-tier"),
    path("me/milestones", apis.MeMilestonesApi.as_view(), name="me-milestones"),
    path("me/rewards", apis.MeRewardsApi.as_view(), name="me-rewards"),
    path("me/vouchers", apis.MeVouchersApi.as_view(), name="me-vouchers"),
]
