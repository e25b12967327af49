from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "trm.consent"
    label = "consent"
    verbose_name = "Consent"
