"""Care pages, under ``cases/<uuid:case_id>/care/``."""

from django.urls import path  # noqa: F401

app_name = "care"

urlpatterns: list = []
