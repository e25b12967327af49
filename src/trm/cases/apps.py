from __future__ import annotations

from uuid import UUID

from django.apps import AppConfig


def person_data_key(case_id: UUID) -> UUID | None:
    """Return the data key of the person of case ``case_id`` (None: no such
    case, or the person was erased). The exchange seals its stored copies of
    the messages about the case under it (``register_data_key_lookup``)."""
    from trm.cases.models import Case

    key_id: UUID | None = (
        Case.objects.filter(pk=case_id, person__erased_at__isnull=True)
        .values_list("person__data_key_id", flat=True)
        .first()
    )
    return key_id


class CasesConfig(AppConfig):
    name = "trm.cases"
    label = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        # Message types of the transnational channel, the case timeline of
        # every message, and who reads payloads (EXCHANGE.md §3, §4).
        from trm.cases.messages import register_all
        from trm.exchange import registry

        register_all()
        # Stored message payloads go with the person's erasure.
        registry.register_data_key_lookup(person_data_key)
