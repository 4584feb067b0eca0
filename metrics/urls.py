from django.urls import path

from metrics import apis

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
    path("feedback", apis.FeedbackCreateApi.as_view(), name="feedback-create"),
]
