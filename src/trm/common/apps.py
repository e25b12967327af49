from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "trm.common"
    label = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from trm.common import checks  # noqa: F401  (registers system checks)
