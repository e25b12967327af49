"""Pages of the statistics dashboard (issue 8 item 5)."""

from django.urls import path

from trm.statistics import views

app_name = "statistics"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path(
        "<slug:chart>.<str:file_format>",
        views.download_view,
        name="download",
    ),
]
