"""URLs of regional statistics (namespace ``regional_statistics``)."""

from django.urls import path

from trm.statistics import regional_views as views

app_name = "regional_statistics"

urlpatterns = [
    path("", views.request_list_view, name="list"),
    path("new/", views.request_new_view, name="new"),
    path("<uuid:request_id>/", views.request_detail_view, name="detail"),
]
