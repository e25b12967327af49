"""Care pages, under ``cases/<uuid:case_id>/care/``."""

from django.urls import path

from trm.care import views

app_name = "care"

urlpatterns = [
    path("plan/", views.plan_view, name="plan"),
    path("plan/edit/", views.plan_edit_view, name="plan_edit"),
    path("plan/agree/", views.plan_agree_view, name="plan_agree"),
    path("plan/review/", views.plan_review_view, name="plan_review"),
    path("residence/", views.residence_view, name="residence"),
    path("residence/add/", views.residence_add_view, name="residence_add"),
    path("services/", views.services_view, name="services"),
    path("services/add/", views.service_add_view, name="service_add"),
    path(
        "services/<uuid:episode_id>/end/",
        views.service_end_view,
        name="service_end",
    ),
]
