"""Assessments pages, under ``cases/<uuid:case_id>/assessments/``."""

from django.urls import path  # noqa: F401

app_name = "assessments"

urlpatterns: list = []
