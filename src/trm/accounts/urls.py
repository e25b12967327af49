from django.urls import path

from trm.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("login/verify/", views.verify_view, name="verify"),
    path("two-factor/enrol/", views.enrol_view, name="enrol"),
    path("password/", views.password_change_view, name="password_change"),
    path("keep-alive/", views.keep_alive_view, name="keep_alive"),
    path("me/", views.account_view, name="account"),
    path("me/tokens/", views.api_token_create_view, name="api_token_create"),
    path(
        "me/tokens/<uuid:token_id>/revoke/",
        views.api_token_revoke_view,
        name="api_token_revoke",
    ),
    path(
        "admin/organisations/", views.organisation_list_view, name="organisation_list"
    ),
    path(
        "admin/organisations/new/",
        views.organisation_form_view,
        name="organisation_create",
    ),
    path(
        "admin/organisations/<uuid:organisation_id>/",
        views.organisation_form_view,
        name="organisation_edit",
    ),
    path("admin/users/", views.user_list_view, name="user_list"),
    path("admin/users/new/", views.user_create_view, name="user_create"),
    path("admin/users/<int:user_id>/", views.user_detail_view, name="user_detail"),
    path(
        "admin/users/<int:user_id>/<slug:action>/",
        views.user_action_view,
        name="user_action",
    ),
]
