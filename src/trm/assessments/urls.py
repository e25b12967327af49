"""Assessments pages, under ``cases/<uuid:case_id>/assessments/``."""

from django.urls import path

from trm.assessments import views

app_name = "assessments"

urlpatterns = [
    path("needs/", views.needs_list_view, name="needs_list"),
    path("needs/new/", views.needs_new_view, name="needs_new"),
    path("risk/", views.risk_list_view, name="risk_list"),
    path("risk/new/", views.risk_new_view, name="risk_new"),
    path("plan/", views.plan_view, name="plan"),
    path("plan/edit/", views.plan_edit_view, name="plan_edit"),
    path("plan/sign/", views.plan_sign_view, name="plan_sign"),
    path("plan/versions/<int:number>/", views.plan_version_view, name="plan_version"),
    path(
        "plan/versions/<int:number>/print/",
        views.plan_print_view,
        name="plan_print",
    ),
]
