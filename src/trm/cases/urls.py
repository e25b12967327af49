from django.urls import path

from trm.cases import exchange_views, views

app_name = "cases"

urlpatterns = [
    path("", views.case_list_view, name="list"),
    path("search/", views.case_search_view, name="search"),
    path("open/", views.case_open_view, name="open"),
    path("<uuid:case_id>/", views.case_detail_view, name="detail"),
    path("<uuid:case_id>/move/", views.case_move_view, name="move"),
    path("<uuid:case_id>/close/", views.case_close_view, name="close"),
    path("<uuid:case_id>/team/add/", views.case_team_add_view, name="team_add"),
    path(
        "<uuid:case_id>/team/<int:user_id>/remove/",
        views.case_team_remove_view,
        name="team_remove",
    ),
    path("<uuid:case_id>/notes/add/", views.case_note_add_view, name="note_add"),
    path(
        "<uuid:case_id>/identity/",
        views.case_edit_identity_view,
        name="edit_identity",
    ),
    path("<uuid:case_id>/photo/", views.case_photo_view, name="photo"),
    path("<uuid:case_id>/alert/", exchange_views.case_alert_view, name="alert"),
    path(
        "<uuid:case_id>/safety-alert/",
        exchange_views.case_safety_alert_view,
        name="safety_alert",
    ),
]
