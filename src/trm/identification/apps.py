from django.apps import AppConfig


class IdentificationConfig(AppConfig):
    name = "trm.identification"
    label = "identification"
    verbose_name = "Identification"
