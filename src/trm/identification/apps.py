from django.apps import AppConfig


class IdentificationConfig(AppConfig):
    name = "trm.identification"
    label = "identification"
    verbose_name = "Identification"

    def ready(self) -> None:
        # identity.verify.request / .response (EXCHANGE.md §3, SOPS §6.4 M2).
        from trm.identification.messages import register_all

        register_all()
