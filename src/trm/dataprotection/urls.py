from django.urls import path

from trm.dataprotection import views

app_name = "dataprotection"

urlpatterns = [
    path("", views.request_list_view, name="requests"),
    path(
        "requests/<uuid:request_id>/confirm/",
        views.request_confirm_view,
        name="request_confirm",
    ),
    path(
        "requests/<uuid:request_id>/cancel/",
        views.request_cancel_view,
        name="request_cancel",
    ),
    path("cases/<uuid:case_id>/", views.person_view, name="person"),
    path(
        "cases/<uuid:case_id>/erasure/",
        views.erasure_request_view,
        name="erasure_request",
    ),
    path("cases/<uuid:case_id>/export/", views.export_view, name="export"),
]
