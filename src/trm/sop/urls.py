"""Routes of SOP progress: "My tasks" and a case's SOP panel (included at the root)."""

from django.urls import path

from trm.sop import views

app_name = "sop"

urlpatterns = [
    path("tasks/", views.tasks_view, name="tasks"),
    path(
        "tasks/reminders/read/",
        views.reminders_read_view,
        name="reminders_read",
    ),
    path("cases/<uuid:case_id>/sop/", views.case_panel_view, name="case_panel"),
]
