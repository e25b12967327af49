from django.urls import path

from trm.guidance import views

app_name = "guidance"

urlpatterns = [
    path("", views.list_view, name="list"),
    path("new/", views.create_view, name="create"),
    path("<slug:slug>/", views.detail_view, name="detail"),
    path("<slug:slug>/file", views.download_view, name="download"),
    path("<slug:slug>/edit/", views.edit_view, name="edit"),
    path("<slug:slug>/delete/", views.delete_view, name="delete"),
]
