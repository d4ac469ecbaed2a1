"""Root URLs: the admin, sign-in and sign-out, then one include per app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("", include("apps.imagesets.urls")),
    path("", include("apps.edits.urls")),
    path("", include("apps.history.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.imports.urls")),
    path("api/", include("apps.api.urls")),
    path("", include("apps.accounts.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

handler403 = "apps.accounts.permissions.forbidden"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
