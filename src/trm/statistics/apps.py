from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    name = "trm.statistics"
    label = "statistics"
    verbose_name = "Statistics and data standards"

    def ready(self) -> None:
        from trm.statistics import messages

        messages.register_all()
