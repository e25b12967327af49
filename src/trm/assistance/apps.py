from django.apps import AppConfig


class AssistanceConfig(AppConfig):
    name = "trm.assistance"
    label = "assistance"
    verbose_name = "Assistance"
