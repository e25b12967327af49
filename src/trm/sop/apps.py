from django.apps import AppConfig


class SopConfig(AppConfig):
    name = "trm.sop"
    label = "sop"
    verbose_name = "Sop"

    def ready(self) -> None:
        from trm.sop import checks  # noqa: F401  (registers system checks)
