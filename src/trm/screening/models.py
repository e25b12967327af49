"""Screenings of a case against the ILO/EC indicator lists (SOPS §5, §6.1).

The per-indicator answers, their evidence and the assessor's note are personal
data: they are sealed under the person's data key (``sealed_responses``). The
result and the per-dimension summary identify no one and stay in clear for
statistics and for the SOP deadline engine.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trm.screening.scoring import ACTION_LABELS, RULE_LABELS, Action, RuleResult


class Screening(models.Model):
    """One screening (SOPS §6.1 ScreeningAssessment) of a case's person.

    Attributes:
        list_ids: the indicator lists used (child lists for a presumed child).
        exploitation: the types of exploitation looked for (labour, sexual).
        result: the recommended action (strongest over the lists).
        rule_result: whether the combination rule held (strongest).
        dimension_summary: ``{"lists": {list_id: {"scored", "verified",
            "rule_result", "result", "reason", "dimensions": {D1: {"present",
            "could_be_present", "counts", "absent", "not_assessed"}}, "facts"}}}``.
        sealed_responses: JSON ``{"responses": {id: {"value", "evidence"}},
            "facts": {id: value}, "note": str}`` sealed under the person's key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="screenings"
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(_("screened at"))
    instrument = models.CharField(_("instrument"), max_length=40)
    instrument_version = models.CharField(_("instrument version"), max_length=40)
    list_ids = models.JSONField(_("indicator lists"), default=list)
    exploitation = models.JSONField(_("types of exploitation"), default=list)
    child_lists = models.BooleanField(_("child lists used"), default=False)
    result = models.CharField(
        _("recommended action"),
        max_length=30,
        choices=[(a.value, ACTION_LABELS[a]) for a in Action],
    )
    rule_result = models.CharField(
        _("rule result"),
        max_length=30,
        choices=[(r.value, RULE_LABELS[r]) for r in RuleResult],
    )
    dimension_summary = models.JSONField(_("per-dimension summary"), default=dict)
    sealed_responses = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"screening {self.id}"

    def responses_context(self) -> bytes:
        """Associated data binding the sealed answers to this row."""
        return b"trm:screening-responses:" + self.id.bytes
