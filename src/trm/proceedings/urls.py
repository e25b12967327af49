"""Proceedings pages, under ``cases/<uuid:case_id>/proceedings/``."""

from django.urls import path

from trm.proceedings import views

app_name = "proceedings"

_NEW = {
    "rights": "rights/",
    "lawyer": "rights/lawyer/",
    "protection_assess": "protection/add/",
    "compensation_file": "compensation/add/",
    "charge_flag": "charges/add/",
    "hearing_add": "hearings/add/",
    "notice_send": "notices/send/",
}
_ON_RECORD = {
    "protection_order": "protection/<uuid:record_id>/order/",
    "protection_lift": "protection/<uuid:record_id>/lift/",
    "compensation_award": "compensation/<uuid:record_id>/award/",
    "compensation_reject": "compensation/<uuid:record_id>/reject/",
    "compensation_paid": "compensation/<uuid:record_id>/paid/",
    "compensation_unpaid": "compensation/<uuid:record_id>/unpaid/",
    "non_punishment_request": "charges/<uuid:record_id>/assessment/",
    "non_punishment_decide": "charges/<uuid:record_id>/decision/",
}

urlpatterns = [
    path("", views.page_view, name="page"),
    *(
        path(route, views.action_view, {"action": name}, name=name)
        for name, route in {**_NEW, **_ON_RECORD}.items()
    ),
]
