from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "trm.care"
    label = "care"
    verbose_name = "Care"
