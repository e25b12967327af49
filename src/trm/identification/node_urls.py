"""Node-wide pages of SOP 1 Identification, at ``identity-checks/``: the identity
checks counterpart nodes asked (answered on each linked case)."""

from django.urls import path

from trm.identification import views

app_name = "identity_checks"

urlpatterns = [
    path("", views.received_checks_view, name="received"),
]
