"""Handover pages, under ``cases/<uuid:case_id>/handover/``."""

from django.urls import path

from trm.handover import views

app_name = "handover"

urlpatterns = [
    path("", views.page_view, name="page"),
    path("<uuid:handover_id>/arrival/", views.arrival_view, name="arrival"),
]
