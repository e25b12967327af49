"""SOP 4 steps 9–10: reintegration and follow-up after a return.

On the node of the country of ORIGIN (where the person returned):

* :class:`ReintegrationPlan` — the reintegration plan (SOPS §2 SOP 4 step 9:
  shelter, medical and psychological care, legal help, documents, education or
  job training, small business support, money — as service codes of
  :class:`trm.directory.models.ServiceType`), when it starts, the case
  manager's *function* (never a name) and the node the reports go back to.
* :class:`FollowUp` — one follow-up due ``months`` after the plan starts
  (the variant's ``follow_up.months_after_return``; SOPS §6.3 "1/3/6/12
  months" [INF]) and, once recorded, its report (SOP 4 step 10).

On the node of the DESTINATION country (that sent the person back):

* :class:`FollowUpReport` — a ``followup.report`` (M10) received from the
  origin node.

Codes, levels and dates stay in clear (SOP engine, "My tasks", statistics);
the plan's goals and the risk notes are sealed under the person's data key.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from trm.assessments.models import RiskLevel
from trm.directory.models import ServiceType


class DomainStatus(models.TextChoices):
    """How one domain of the person's life stands at a follow-up (housing,
    health, income, education; SOPS §6.4 M10 "status")."""

    STABLE = "stable", _("Stable")
    AT_RISK = "at_risk", _("At risk")
    CRITICAL = "critical", _("Critical")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    UNKNOWN = "unknown", _("Not known")


#: The domains a follow-up report rates (SOPS §6.4 M10; EXCHANGE §3).
DOMAINS: dict[str, StrOrPromise] = {
    "housing": _("Housing"),
    "health": _("Health"),
    "income": _("Income"),
    "education": _("Education or training"),
}


def service_labels(codes: list[str]) -> list[str]:
    """Return the labels of service codes (an unknown code as it is)."""
    labels = dict(ServiceType.choices)
    return [str(labels.get(code, code)) for code in codes]


def status_rows(status: dict[str, str]) -> list[tuple[str, str]]:
    """Return ``(domain label, status label)`` for each domain of ``status``."""
    labels = dict(DomainStatus.choices)
    return [
        (str(DOMAINS[domain]), str(labels.get(code, code)))
        for domain, code in status.items()
        if domain in DOMAINS
    ]


class ReintegrationPlan(models.Model):
    """The reintegration plan of a returned person; the newest one counts.

    Attributes:
        starts_on: the day the plan starts (the follow-ups count from it).
        services: :class:`~trm.directory.models.ServiceType` codes planned.
        case_manager_function: who manages it, as a function (never a name).
        report_to_node: the node the follow-up reports go to (the destination
            country's node); empty: the only node the case is linked with.
        sealed_goals: the goals under the person's key (:meth:`goals_context`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="reintegration_plans"
    )
    starts_on = models.DateField(_("starts on"))
    services = models.JSONField(_("services"), default=list)
    case_manager_function = models.CharField(
        _("case manager (function)"), max_length=200
    )
    report_to_node = models.CharField(
        _("reports go to node"), max_length=64, blank=True
    )
    sealed_goals = models.BinaryField(null=True)
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["case", "-recorded_at"])]

    def __str__(self) -> str:
        return f"reintegration plan {self.id}"

    def service_labels(self) -> list[str]:
        return service_labels(self.services)

    def goals_context(self) -> bytes:
        """Associated data binding the sealed goals to this row."""
        return b"trm:reintegration:plan:" + self.id.bytes


class FollowUp(models.Model):
    """One follow-up of the schedule and, once recorded, its report.

    Attributes:
        sequence: 1, 2, … in the schedule; ``months`` after the plan's start,
            due on ``due_on``.
        reported_on: the date of the report (None: not reported yet).
        services_given: service codes given since the last report.
        status: ``{domain: DomainStatus}`` for every :data:`DOMAINS` key.
        risk_level: :class:`~trm.assessments.models.RiskLevel`.
        sealed_risk_note: the risk update's text under the person's key.
        sent_to_node / msg_id / consent_id: where the report went as a
            ``followup.report`` and under which consent (empty / None: kept
            here only, e.g. the person did not agree to it being sent).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="follow_ups"
    )
    plan = models.ForeignKey(
        ReintegrationPlan, on_delete=models.CASCADE, related_name="follow_ups"
    )
    sequence = models.PositiveSmallIntegerField(_("follow-up number"))
    months = models.PositiveSmallIntegerField(_("months after the start"))
    due_on = models.DateField(_("due on"))
    reported_on = models.DateField(_("reported on"), null=True, blank=True)
    services_given = models.JSONField(_("services given"), default=list)
    status = models.JSONField(_("status"), default=dict)
    risk_level = models.CharField(
        _("risk level"), max_length=10, choices=RiskLevel.choices, blank=True
    )
    contact_kept = models.BooleanField(_("contact kept"), default=True)
    sealed_risk_note = models.BinaryField(null=True)
    sent_to_node = models.CharField(_("sent to node"), max_length=64, blank=True)
    msg_id = models.UUIDField(null=True, blank=True)
    consent_id = models.UUIDField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["case", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "sequence"], name="reintegration_followup_sequence"
            )
        ]
        indexes = [models.Index(fields=["due_on", "reported_on"])]

    def __str__(self) -> str:
        return f"follow-up {self.sequence} of case {self.case_id}"

    @property
    def is_reported(self) -> bool:
        return self.reported_on is not None

    def service_labels(self) -> list[str]:
        return service_labels(self.services_given)

    def status_rows(self) -> list[tuple[str, str]]:
        return status_rows(self.status)

    def note_context(self) -> bytes:
        """Associated data binding the sealed risk note to this row."""
        return b"trm:reintegration:followup:" + self.id.bytes


class FollowUpReport(models.Model):
    """A ``followup.report`` (M10) received from the origin node.

    Attributes:
        peer_node, msg_id: the sender and its message.
        sequence, due_on, reported_on: which follow-up and when.
        services: service codes given; ``status``: ``{domain: code}``.
        risk_level, contact_kept; sealed_risk_note under the person's key
            (None after erasure, or when the report had none).
        sending_organisation: the reporting organisation's name (not personal).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="follow_up_reports"
    )
    peer_node = models.CharField(max_length=64)
    msg_id = models.UUIDField(unique=True)
    sequence = models.PositiveSmallIntegerField(_("follow-up number"))
    due_on = models.DateField(_("due on"), null=True, blank=True)
    reported_on = models.DateField(_("reported on"))
    services = models.JSONField(_("services given"), default=list)
    status = models.JSONField(_("status"), default=dict)
    risk_level = models.CharField(
        _("risk level"), max_length=10, choices=RiskLevel.choices
    )
    contact_kept = models.BooleanField(_("contact kept"), default=True)
    sealed_risk_note = models.BinaryField(null=True)
    sending_organisation = models.CharField(_("reported by"), max_length=200)
    #: The sender's consent id (``consent:<id>`` of the envelope): withdrawing
    #: it there erases the report here
    #: (:func:`~trm.reintegration.services.erase_received`).
    remote_consent_ref = models.UUIDField(null=True, blank=True)
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        ordering = ["-reported_on", "-received_at"]
        indexes = [models.Index(fields=["case", "-reported_on"])]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "peer_node", "sequence"],
                name="reintegration_one_report_per_follow_up",
            )
        ]

    def __str__(self) -> str:
        return f"follow-up report {self.id}"

    def service_labels(self) -> list[str]:
        return service_labels(self.services)

    def status_rows(self) -> list[tuple[str, str]]:
        return status_rows(self.status)

    def note_context(self) -> bytes:
        """Associated data binding the sealed risk note to this row."""
        return b"trm:reintegration:report:" + self.id.bytes
