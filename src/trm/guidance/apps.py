from django.apps import AppConfig


class GuidanceConfig(AppConfig):
    name = "trm.guidance"
    label = "guidance"
    verbose_name = "Guidance library"
