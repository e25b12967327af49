from django.urls import path

from trm.directory import views

app_name = "directory"

urlpatterns = [
    path("", views.directory_list_view, name="list"),
    path("export.csv", views.export_view, name="export"),
    path("<uuid:organisation_id>/", views.directory_detail_view, name="detail"),
    path("<uuid:organisation_id>/capacity/", views.capacity_view, name="capacity"),
    path("<uuid:organisation_id>/edit/", views.profile_edit_view, name="edit"),
]
