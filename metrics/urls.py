from django.urls import path

from metrics import apis
from metrics.predictions import apis as prediction_apis
from metrics.segments import apis as segment_apis

urlpatterns = [
    path("metrics/kpis", apis.KpiListApi.as_view(), name="metrics-kpis"),
    path("metrics/kpis.csv", apis.KpiCsvApi.as_view(), name="metrics-kpis-csv"),
    path("metrics/cohorts", apis.CohortListApi.as_view(), name="metrics-cohorts"),
    path(
        "metrics/members/<str:external_id>",
        apis.MemberValueApi.as_view(),
        name="metrics-member-value",
    ),
    path("metrics/referrals", apis.ReferralKpiApi.as_view(), name="metrics-referrals"),
    path(
        "metrics/predictions",
        prediction_apis.PredictionModelApi.as_view(),
        name="metrics-predictions",
    ),
    path("segments", segment_apis.SegmentListApi.as_view(), name="segments"),
    path("segments/preview", segment_apis.SegmentPreviewApi.as_view(), name="segment-preview"),
    path(
        "segments/<int:segment_id>/members",
        segment_apis.SegmentMembersApi.as_view(),
        name="segment-members",
    ),
    path(
        "segments/<int:segment_id>/recompute",
        segment_apis.SegmentRecomputeApi.as_view(),
        name="segment-recompute",
    ),
    path(
        "segments/<int:segment_id>/copy",
        segment_apis.SegmentCopyApi.as_view(),
        name="segment-copy",
    ),
    path("feedback", apis.FeedbackCreateApi.as_view(), name="feedback-create"),
]
