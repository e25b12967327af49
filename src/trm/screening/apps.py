from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "trm.screening"
    label = "screening"
    verbose_name = "Screening"
