from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
]
