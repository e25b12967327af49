"""SOP 4 step 8, "Handover on arrival", on both nodes of a return.

One :class:`ReturnHandover` per return journey on each node: the destination
node (where the person was assisted; it sends ``return.handover``) keeps the
``destination`` row on its case, the origin node (where the person arrives; it
answers ``return.handover.arrival``) keeps the ``origin`` row on its linked
case. Both rows share :attr:`ReturnHandover.handover_ref`.

What is in clear and what is sealed (ARCHITECTURE §4): times, status codes and
*functions* (escort, meeting person — never names) stay in clear for the
alert job and statistics; the arrival point, the itinerary and the note of
the confirmation are sealed under the person's data key — they can reveal
where a person at risk will be.

Source: SOPS §2 SOP 4 step 8; §6.3 (confirm within 24 h) [INF]; §6.4 M9, M14;
EXCHANGE.md §3 ``return.handover`` / ``.arrival``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trm.cases.models import Case


class Side(models.TextChoices):
    """Which end of the journey this node is."""

    DESTINATION = "destination", _("Sending side (country of destination)")
    ORIGIN = "origin", _("Receiving side (country of origin)")


class HandoverStatus(models.TextChoices):
    ANNOUNCED = "announced", _("Announced, arrival not confirmed yet")
    ARRIVED = "arrived", _("Arrived and handed over")
    NOT_ARRIVED = "not_arrived", _("Did not arrive")


class ReturnHandover(models.Model):
    """The handover of one return journey, as one node knows it.

    Attributes:
        handover_ref: shared by both nodes (made by the destination node).
        side: ``destination`` (this node sent the person) or ``origin``.
        peer_node: the other node's id.
        departure_at / expected_arrival_at: aware datetimes (UTC in the DB).
        escort_function / meeting_person_function: functions, never names.
        sealed_text: JSON ``{"arrival_point", "itinerary"}`` under the person's
            key (on the origin side only what the message carried).
        status: :class:`HandoverStatus`.
        arrival_at: when the person arrived (or was due and did not), as the
            origin side confirmed it.
        arrival_confirmed_at: when the confirmation was recorded here.
        sealed_note: the confirmation's note (origin side), sealed.
        alert_raised_at: when the missed-confirmation alert went (once).
        lead_side: who leads after the arrival (``origin`` once arrived).
        lead_moved_at: when the lead moved.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    handover_ref = models.UUIDField(_("handover reference"))
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    side = models.CharField(_("side"), max_length=12, choices=Side.choices)
    peer_node = models.CharField(_("counterpart node"), max_length=64)
    departure_at = models.DateTimeField(_("departure at"))
    expected_arrival_at = models.DateTimeField(_("expected arrival at"))
    escort_function = models.CharField(
        _("escort (function)"), max_length=200, blank=True
    )
    meeting_person_function = models.CharField(
        _("meeting person (function)"), max_length=200, blank=True
    )
    sealed_text = models.BinaryField(null=True, blank=True)
    sending_organisation = models.CharField(
        _("sending organisation"), max_length=200, blank=True
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=HandoverStatus.choices,
        default=HandoverStatus.ANNOUNCED,
    )
    arrival_at = models.DateTimeField(_("arrival at"), null=True, blank=True)
    arrival_confirmed_at = models.DateTimeField(
        _("arrival confirmed at"), null=True, blank=True
    )
    sealed_note = models.BinaryField(null=True, blank=True)
    alert_raised_at = models.DateTimeField(_("alert raised at"), null=True, blank=True)
    lead_side = models.CharField(
        _("leads after arrival"), max_length=12, choices=Side.choices, blank=True
    )
    lead_moved_at = models.DateTimeField(_("lead moved at"), null=True, blank=True)
    msg_id = models.UUIDField(_("announcement message"), null=True, blank=True)
    created_at = models.DateTimeField(_("recorded at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["handover_ref", "side"], name="handover_one_row_per_side"
            )
        ]
        indexes = [
            models.Index(fields=["case", "-created_at"]),
            models.Index(fields=["status", "expected_arrival_at"]),
        ]

    def __str__(self) -> str:
        return f"handover {self.handover_ref} ({self.side})"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:handover:text:" + self.id.bytes

    def note_context(self) -> bytes:
        return b"trm:handover:note:" + self.id.bytes
