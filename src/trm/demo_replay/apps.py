from django.apps import AppConfig


class DemoReplayConfig(AppConfig):
    """The ``trm replay`` command (no models)."""

    name = "trm.demo_replay"
    label = "demo_replay"
    verbose_name = "Demo replay"
