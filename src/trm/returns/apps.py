from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "trm.returns"
    label = "returns"
    verbose_name = "Return (SOP 4)"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from trm.cases.labels import register_move_codes
        from trm.returns import messages

        messages.register_all()

        register_move_codes(
            "assistance", {"guards_met": _("Every condition of the return was met")}
        )
