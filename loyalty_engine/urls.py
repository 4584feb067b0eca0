from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from members import views as member_views

urlpatterns = [
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("unsubscribe/<str:token>", member_views.unsubscribe, name="member-unsubscribe"),
    path("api/v1/", include("members.urls")),
    path("api/v1/", include("rewards.urls")),
    path("api/v1/", include("metrics.urls")),
    path("api/v1/", include("loyalty_engine.events.urls")),
]

handler400 = "loyalty_engine.errors.json_400"
handler404 = "loyalty_engine.errors.json_404"
handler500 = "loyalty_engine.errors.json_500"
