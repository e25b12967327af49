"""Records of SOP 1 that are not track states: what the person was told.

Source: SOPS §3 (rights-information checklist at each phase), §6.2 region A
("person informed"), CETS 197 Art. 12(2), 13, Directive 2011/36/EU Art. 11(6).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trm.cases.models import Case


class RightsItem(models.TextChoices):
    """What a person may be told; the checklist items of a rights information."""

    DECISION_AND_REASONS = (
        "decision_and_reasons",
        _("The decision and its reasons were explained"),
    )
    REVIEW = "review", _("How to ask for a review of the decision")
    REFLECTION_PERIOD = (
        "reflection_period",
        _(
            "The reflection and recovery period: when it starts, how long it lasts, "
            "and that they will not be removed from the country while it runs"
        ),
    )
    ASSISTANCE_UNCONDITIONAL = (
        "assistance_unconditional",
        _("Assistance does not depend on cooperating with the authorities"),
    )
    OTHER_SERVICES = (
        "other_services",
        _("Other services they can turn to, with contact details"),
    )
    LEGAL_COUNSELLING = (
        "legal_counselling",
        _(
            "Their right to legal counselling and, where they lack means, "
            "free legal aid"
        ),
    )
    RESIDENCE = "residence", _("Residence options, including international protection")
    DATA_PROTECTION = (
        "data_protection",
        _(
            "How their data is used and shared, and that they may refuse or "
            "withdraw consent"
        ),
    )


class RightsContext(models.TextChoices):
    """When the person was informed."""

    IDENTIFIED = "identified", _("Decision: identified trafficked person")
    NOT_IDENTIFIED = "not_identified", _("Decision: not identified")
    REFLECTION_PERIOD = "reflection_period", _("Start of the reflection period")
    OTHER = "other", _("Other")


#: Items the person must have been told for each context (SOPS §2 SOP 1 step 3
#: and step 8, §6.2 region A): a decision is not recorded without them.
REQUIRED_ITEMS: dict[str, frozenset[str]] = {
    RightsContext.IDENTIFIED: frozenset(
        {
            RightsItem.DECISION_AND_REASONS,
            RightsItem.REFLECTION_PERIOD,
            RightsItem.ASSISTANCE_UNCONDITIONAL,
            RightsItem.LEGAL_COUNSELLING,
        }
    ),
    RightsContext.NOT_IDENTIFIED: frozenset(
        {
            RightsItem.DECISION_AND_REASONS,
            RightsItem.REVIEW,
            RightsItem.OTHER_SERVICES,
        }
    ),
    RightsContext.REFLECTION_PERIOD: frozenset(
        {RightsItem.REFLECTION_PERIOD, RightsItem.ASSISTANCE_UNCONDITIONAL}
    ),
    RightsContext.OTHER: frozenset(),
}


class RightsInformation(models.Model):
    """A record that the person was informed, of what, and in which language.

    Nothing here identifies the person (item codes, a language code), so it is
    kept in clear for the SOP 1 monitoring indicator "share informed of the
    reflection period" (SOPS §4.1).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    informed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    context = models.CharField(max_length=30, choices=RightsContext.choices)
    items = models.JSONField(default=list)
    language = models.CharField(_("language used (ISO 639)"), max_length=3)
    interpreter = models.BooleanField(_("with an interpreter"), default=False)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"{self.context} ({self.language})"
