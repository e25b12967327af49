from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "trm.consent"
    label = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        # The consent gate and "withdrawal travels" (EXCHANGE.md §1.7, §1.8).
        from trm.consent.messages import register_all

        register_all()
