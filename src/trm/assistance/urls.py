"""Assistance pathway pages, under ``cases/<uuid:case_id>/assistance/``."""

from django.urls import path

from trm.assistance import views

app_name = "assistance"

urlpatterns = [
    path("start/", views.move_view, {"name": "start"}, name="start"),
    path("decline/", views.move_view, {"name": "decline"}, name="decline"),
    path("long-term/", views.move_view, {"name": "long_term"}, name="long_term"),
    path(
        "return-preparation/",
        views.move_view,
        {"name": "return_preparation"},
        name="return_preparation",
    ),
    path("close/", views.move_view, {"name": "close"}, name="close"),
]
