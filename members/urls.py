from django.urls import path

from members import apis

urlpatterns = [
    path("members", apis.MemberCreateApi.as_view(), name="member-create"),
    path("members/<str:external_id>", apis.MemberDetailApi.as_view(), name="member-detail"),
    path("members/<str:external_id>/token", apis.MemberTokenApi.as_view(), name="member-token"),
    path("me", apis.MeApi.as_view(), name="me"),
]
