from django.apps import AppConfig


class HandoverConfig(AppConfig):
    name = "trm.handover"
    label = "handover"
    verbose_name = "Handover on arrival"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from trm.cases.labels import register_move_codes

        register_move_codes(
            "assistance",
            {
                "arrival_confirmed": _("arrival confirmed by the country of origin"),
                "lead_moved_to_origin": _("the country of origin now leads"),
                "arrival_not_confirmed": _("the country of origin reports no arrival"),
            },
        )
        # return.handover / return.handover.arrival (M9): this app applies them
        # (EXCHANGE.md §3, §4).
        from trm.handover.messages import register_all

        register_all()
        # The arrival point and itinerary received under a consent go when
        # the person withdraws it at the destination (consent.withdrawn).
        from trm.consent.messages import register_restriction_hook
        from trm.handover.services import restrict_received

        register_restriction_hook(restrict_received)
