from django.urls import path

from loyalty_engine.events import apis

urlpatterns = [
    path("events", apis.EventListApi.as_view(), name="event-list"),
]
