"""Referrals pages, under ``referrals/``."""

from django.urls import path  # noqa: F401

app_name = "referrals"

urlpatterns: list = []
