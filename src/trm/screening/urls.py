"""Screening pages, under ``cases/<uuid:case_id>/screening/``."""

from django.urls import path

from trm.screening import views

app_name = "screening"

urlpatterns = [
    path("", views.screening_list_view, name="list"),
    path("new/", views.screening_new_view, name="new"),
    path("<uuid:screening_id>/", views.screening_detail_view, name="detail"),
]
