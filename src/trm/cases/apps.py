from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "trm.cases"
    label = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        # Message types of the transnational channel, the case timeline of
        # every message, and who reads payloads (EXCHANGE.md §3, §4).
        from trm.cases.messages import register_all

        register_all()
