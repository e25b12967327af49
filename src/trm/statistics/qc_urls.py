"""The node administrator's quality-control pages of statistics, at
``statistics/qc/`` (kept apart from the dashboard's public pages)."""

from django.urls import path

from trm.statistics import qc_views

app_name = "statistics_qc"

urlpatterns = [
    path("unrounded/", qc_views.unrounded_view, name="unrounded"),
]
