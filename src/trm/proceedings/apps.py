from django.apps import AppConfig


class ProceedingsConfig(AppConfig):
    name = "trm.proceedings"
    label = "proceedings"
    verbose_name = "Proceedings"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from trm.cases.labels import register_move_codes

        register_move_codes(
            "legal",
            {
                "with_lawyer": _("with a lawyer"),
                "no_lawyer": _("no lawyer yet"),
            },
        )
        # proceedings.notice (M12): this app applies it (EXCHANGE.md §3, §4).
        from trm.proceedings.messages import register_all

        register_all()
