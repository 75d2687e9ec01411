from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("", include("leads.api.urls")),
    path("", include("scoring.api.urls")),
    path("", include("handoff.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_v1)),
    path("healthz/", healthz, name="healthz"),
    path("", include("leads.urls")),
    path("", include("scoring.urls")),
    path("", include("handoff.urls")),
    path("", include("imports.urls")),
    path("", include("analytics.urls")),
]
