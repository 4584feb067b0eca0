from django.urls import path

from members import apis

urlpatterns = [
    path(
        "members/<str:external_id>/consent",
        apis.MemberConsentApi.as_view(),
        name="member-consent",
    ),
    path("members/<str:external_id>/token", apis.MemberTokenApi.as_view(), name="member-token"),
]
