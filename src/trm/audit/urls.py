from django.urls import path

from trm.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.entry_list_view, name="entry_list"),
    path("verify/", views.verify_view, name="verify"),
]
