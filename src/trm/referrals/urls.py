"""Referrals pages, under ``referrals/``.

The case team's pages take the case or the referral id; the receiver's inbox
is under ``inbox/``. No personal data is ever in a URL.
"""

from django.urls import URLPattern, path

from trm.referrals import views

app_name = "referrals"

urlpatterns: list[URLPattern] = [
    path("case/<uuid:case_id>/new/", views.referral_new_view, name="new"),
    path(
        "case/<uuid:case_id>/not-possible/",
        views.case_not_possible_view,
        name="case_not_possible",
    ),
    path("<uuid:referral_id>/", views.referral_detail_view, name="detail"),
    path("<uuid:referral_id>/edit/", views.referral_edit_view, name="edit"),
    path("<uuid:referral_id>/cancel/", views.referral_cancel_view, name="cancel"),
    path(
        "<uuid:referral_id>/not-possible/",
        views.referral_not_possible_view,
        name="not_possible",
    ),
    path("<uuid:referral_id>/feedback/", views.referral_feedback_view, name="feedback"),
    path("inbox/", views.inbox_view, name="inbox"),
    path("inbox/<uuid:referral_id>/", views.inbox_detail_view, name="inbox_detail"),
    path("inbox/<uuid:referral_id>/accept/", views.inbox_accept_view, name="accept"),
    path("inbox/<uuid:referral_id>/decline/", views.inbox_decline_view, name="decline"),
    path("inbox/<uuid:referral_id>/start/", views.inbox_start_view, name="start"),
    path(
        "inbox/<uuid:referral_id>/complete/",
        views.inbox_complete_view,
        name="complete",
    ),
    path(
        "inbox/<uuid:referral_id>/feedback/",
        views.inbox_feedback_view,
        name="inbox_feedback",
    ),
]
