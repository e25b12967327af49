from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "trm.demo"
    label = "demo"
    verbose_name = "Demo federation"
