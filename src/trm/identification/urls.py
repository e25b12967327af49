"""Routes of SOP 1 Identification, at ``cases/<uuid:case_id>/identification/``."""

from django.urls import path

from trm.identification import views

app_name = "identification"

urlpatterns = [
    path("presume/", views.presume_view, name="presume"),
    path("decision/", views.decide_view, name="decide"),
    path("reopen/", views.reopen_view, name="reopen"),
    path("no-indication/", views.no_indication_view, name="no_indication"),
    path("rights-information/", views.rights_view, name="rights"),
    path("reflection-end/", views.reflection_end_view, name="reflection_end"),
    path("possible-child/", views.possible_child_view, name="possible_child"),
    path("asylum-application/", views.asylum_view, name="asylum"),
    path("age-assessment/", views.age_assessment_view, name="age_assessment"),
    path("guardian/", views.guardian_view, name="guardian"),
    path(
        "child-protection-notice/",
        views.child_protection_notice_view,
        name="child_protection_notice",
    ),
    path(
        "identity-verification/",
        views.identity_verification_view,
        name="identity_verification",
    ),
    path(
        "identity-verification/answer/",
        views.identity_verification_answer_view,
        name="identity_verification_answer",
    ),
    path("contact/", views.contact_view, name="contact"),
    path("enforced-removal/", views.enforced_removal_view, name="enforced_removal"),
]
