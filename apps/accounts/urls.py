"""The user's own API tokens."""

from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("account/tokens/", views.token_list, name="token-list"),
    path("account/tokens/create/", views.token_create, name="token-create"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        views.token_revoke,
        name="token-revoke",
    ),
]
