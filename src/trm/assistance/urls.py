"""Assistance pages, under ``cases/<uuid:case_id>/assistance/``."""

from django.urls import path  # noqa: F401

app_name = "assistance"

urlpatterns: list = []
