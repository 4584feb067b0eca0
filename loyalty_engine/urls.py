from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from loyalty_engine import health
from members import views as member_views

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    # The admin's language switcher posts here (a cookie; loyalty_engine.i18n reads it).
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("unsubscribe/<str:token>", member_views.unsubscribe, name="member-unsubscribe"),
    path("api/v1/", include("members.urls")),
    path("api/v1/", include("rewards.urls")),
    path("api/v1/", include("metrics.urls")),
    path("api/v1/", include("loyalty_engine.events.urls")),
]

handler400 = "loyalty_engine.errors.json_400"
handler404 = "loyalty_engine.errors.json_404"
handler500 = "loyalty_engine.errors.json_500"
