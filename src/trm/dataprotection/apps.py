from django.apps import AppConfig


class DataProtectionConfig(AppConfig):
    name = "trm.dataprotection"
    label = "dataprotection"
    verbose_name = "Data protection"

    def ready(self) -> None:
        from trm.dataprotection import checks  # noqa: F401  (registers system checks)
