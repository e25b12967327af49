from django.apps import AppConfig


class ReintegrationConfig(AppConfig):
    name = "trm.reintegration"
    label = "reintegration"
    verbose_name = "Reintegration and follow-up (SOP 4)"

    def ready(self) -> None:
        from trm.consent.messages import register_restriction_hook
        from trm.reintegration import messages, tasks
        from trm.reintegration.services import erase_received
        from trm.sop.selectors import register_task_source

        messages.register_all()
        register_task_source(tasks.overdue_follow_ups)
        register_restriction_hook(erase_received)
