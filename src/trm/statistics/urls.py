"""Pages of statistics (namespace ``statistics``): the dashboard (issue 8
item 5) and the HTCDS export (item 1)."""

from django.urls import path

from trm.statistics import htcds_views, views

app_name = "statistics"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("htcds/export/", htcds_views.htcds_export_view, name="htcds_export"),
    path(
        "<slug:chart>.<str:file_format>",
        views.download_view,
        name="download",
    ),
]
