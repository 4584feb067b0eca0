"""A URL configuration of one view (tests/test_api_middleware.py)."""

from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("api/v1/other", lambda request: HttpResponse(), name="other")]
