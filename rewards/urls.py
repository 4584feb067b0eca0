from django.urls import path

from rewards.apis import activities, me, members, program, purchases, redemptions, vouchers

urlpatterns = [
    path("members", members.MemberCreateApi.as_view(), name="member-create"),
    path("members/<str:external_id>", members.MemberDetailApi.as_view(), name="member-detail"),
    path(
        "members/<str:external_id>/language",
        members.MemberLanguageApi.as_view(),
        name="member-language",
    ),
    path("me", members.MeApi.as_view(), name="me"),
    path("program", program.ProgramApi.as_view(), name="program"),
    path("purchases", purchases.PurchaseCreateApi.as_view(), name="purchase-create"),
    path("purchases/preview", purchases.PurchasePreviewApi.as_view(), name="purchase-preview"),
    path(
        "purchases/<str:order_id>/refunds",
        purchases.RefundCreateApi.as_view(),
        name="refund-create",
    ),
    path("redemptions", redemptions.RedemptionCreateApi.as_view(), name="redemption-create"),
    path(
        "redemptions/<uuid:redemption_id>/capture",
        redemptions.RedemptionCaptureApi.as_view(),
        name="redemption-capture",
    ),
    path(
        "redemptions/<uuid:redemption_id>/void",
        redemptions.RedemptionVoidApi.as_view(),
        name="redemption-void",
    ),
    path(
        "redemptions/<uuid:redemption_id>/cancel",
        redemptions.RedemptionCancelApi.as_view(),
        name="redemption-cancel",
    ),
    path("vouchers/<str:code>", vouchers.VoucherDetailApi.as_view(), name="voucher-detail"),
    path("vouchers/<str:code>/use", vouchers.VoucherUseApi.as_view(), name="voucher-use"),
    path("activities", activities.ActivityCreateApi.as_view(), name="activity-create"),
    path("me/export", me.MeExportApi.as_view(), name="me-export"),
    path("me/referral", me.MeReferralApi.as_view(), name="me-referral"),
    path("me/balance", me.MeBalanceApi.as_view(), name="me-balance"),
    path("me/transactions", me.MeTransactionsApi.as_view(), name="me-transactions"),
    path("me/tier", me.MeTierApi.as_view(), name="me-tier"),
    path("me/milestones", me.MeMilestonesApi.as_view(), name="me-milestones"),
    path("me/rewards", me.MeRewardsApi.as_view(), name="me-rewards"),
    path("me/vouchers", vouchers.MeVouchersApi.as_view(), name="me-vouchers"),
]
