from django.urls import path

from trm.statistics import views

app_name = "statistics"

urlpatterns = [
    path("htcds/export/", views.htcds_export_view, name="htcds_export"),
]
