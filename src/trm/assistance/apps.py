from django.apps import AppConfig


class AssistanceConfig(AppConfig):
    name = "trm.assistance"
    label = "assistance"
    verbose_name = "Assistance"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from trm.assistance.services import Closure, StartBasis
        from trm.cases.labels import register_move_codes

        register_move_codes(
            "assistance",
            {
                **dict(StartBasis.choices),
                **dict(Closure.choices),
                "info_and_contact": _(
                    "Information and contact details given to come back"
                ),
                "info_only": _("Information given on how to come back"),
            },
        )

        # Return-side message types still only declared (travel.document.*,
        # return.arrival; schemas only): EXCHANGE.md §3.
        from trm.assistance.messages import register_all

        register_all()
