from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    name = "trm.statistics"
    label = "statistics"
    verbose_name = "Statistics and data standards"
