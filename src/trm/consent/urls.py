from django.urls import path

from trm.consent import views

app_name = "consent"

urlpatterns = [
    path("case/<uuid:case_id>/record/", views.consent_record_view, name="record"),
    path("<uuid:consent_id>/", views.consent_detail_view, name="detail"),
    path("<uuid:consent_id>/evidence/", views.consent_evidence_view, name="evidence"),
    path("<uuid:consent_id>/withdraw/", views.consent_withdraw_view, name="withdraw"),
]
