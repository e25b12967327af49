"""Return record pages, under ``cases/<uuid:case_id>/return/``."""

from django.urls import path

from trm.returns import views

app_name = "returns"

urlpatterns = [
    path("", views.detail_view, name="detail"),
    path("best-interests/", views.form_view, {"name": "bid"}, name="bid"),
    path("joint-risk/", views.form_view, {"name": "joint_risk"}, name="joint_risk"),
    path(
        "joint-risk/origin/",
        views.form_view,
        {"name": "joint_risk_origin"},
        name="joint_risk_origin",
    ),
    path("logistics/", views.form_view, {"name": "logistics"}, name="logistics"),
    path("receiver/", views.form_view, {"name": "receiver"}, name="receiver"),
    path("in-transit/", views.form_view, {"name": "in_transit"}, name="in_transit"),
    path("across/", views.across_view, name="across"),
    *(
        path(f"across/{slug}/", views.form_view, {"name": name}, name=name)
        for slug, name in [
            ("joint-risk/share", "joint_risk_share"),
            ("joint-risk/rate", "joint_risk_rate"),
            ("plan/send", "plan_send"),
            ("plan/answer", "plan_answer"),
            ("family/request", "family_request"),
            ("family/report", "family_report"),
            ("family/record", "family_record"),
        ]
    ),
]
