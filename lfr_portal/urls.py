"""Top-level URLs: pages, the versioned API, OpenAPI schema and docs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from compliance.views import accounts, home
from lfr_portal import views as portal_views

api_v1 = [
    path("", include("compliance.api.urls")),
    path("", include("matching.api.urls")),
]

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/enrol/", accounts.otp_enrol, name="otp_enrol"),
    path("accounts/2fa/verify/", accounts.otp_verify, name="otp_verify"),
    path("accounts/password/", accounts.password_change_view, name="password_change"),
    path("", include("compliance.urls")),
    path("", include("matching.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", portal_views.healthz, name="healthz"),
    path("healthz/web", portal_views.healthz_web, name="healthz-web"),
    path("admin/", admin.site.urls),
]

handler400 = "lfr_portal.views.bad_request"
handler404 = "lfr_portal.views.not_found"
handler500 = "lfr_portal.views.server_error"
