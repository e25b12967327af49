"""Reintegration pages, under ``cases/<uuid:case_id>/reintegration/``."""

from django.urls import path

from trm.reintegration import views

app_name = "reintegration"

urlpatterns = [
    path("", views.detail_view, name="detail"),
    path("plan/", views.plan_view, name="plan"),
    path(
        "follow-ups/<uuid:follow_up_id>/report/",
        views.report_view,
        name="report",
    ),
]
