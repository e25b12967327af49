from django.apps import AppConfig


class SopConfig(AppConfig):
    name = "trm.sop"
    label = "sop"
    verbose_name = "Sop"
