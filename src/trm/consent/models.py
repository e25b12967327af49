"""Consent as an object: purpose × recipient × data categories × who gave it.

Source: SOPS §3 (informed consent; confidentiality), §6.1 (Consent entity),
BG NRM 1.4, CETS 11 and 12(7), HTCDS ``vic_AgreementToManagePersonalData``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from trm.accounts.models import Organisation


class Purpose(models.TextChoices):
    DATA_PROCESSING = "data_processing", _("Processing of personal data")
    #: Accepting assistance and services, and the service agreement (SOPS §6.2
    #: region B guard; BG 3.1).
    ASSISTANCE = "assistance", _("Assistance and services")
    REFERRAL = "referral", _("Referral to a service provider")
    CROSS_BORDER_TRANSFER = "cross_border_transfer", _("Transfer to another country")
    RETURN = "return", _("Return to the country of origin")
    MEDICAL = "medical", _("Medical care")
    FAMILY_CONTACT = "family_contact", _("Contact with family")
    PROCEEDINGS = "proceedings", _("Participation in proceedings")
    MEDIA = "media", _("Contact with the media")


class DataCategory(models.TextChoices):
    """Categories of data a consent may cover (and a message may carry)."""

    IDENTITY = "identity", _("Identity (names, birth date, place of birth)")
    DOCUMENTS = "documents", _("Identity documents")
    CONTACT = "contact", _("Contact details (phones, addresses)")
    PHOTO = "photo", _("Photograph")
    CASE_SUMMARY = "case_summary", _("Case summary and needs")
    HEALTH = "health", _("Health")
    FAMILY = "family", _("Family")
    LEGAL = "legal", _("Legal proceedings")
    RISK = "risk", _("Risk to life or safety")


class GivenBy(models.TextChoices):
    PERSON = "person", _("The person")
    GUARDIAN = "guardian", _("The guardian")
    BOTH = "both", _("The person and the guardian")


class Consent(models.Model):
    """One informed consent of a person.

    ``sealed_declaration`` and ``sealed_evidence`` (a scan of the signed form)
    are encrypted under the person's data key. A consent covers a share when its
    purpose matches, it names the recipient (organisation, or its country), it
    lists every category shared, and it is neither expired nor withdrawn.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(
        "cases.Person", on_delete=models.CASCADE, related_name="consents"
    )
    case = models.ForeignKey(
        "cases.Case", on_delete=models.SET_NULL, null=True, related_name="consents"
    )
    purpose = models.CharField(_("purpose"), max_length=40, choices=Purpose.choices)
    recipient_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recipient organisation"),
    )
    recipient_country = CountryField(_("recipient country"), blank=True)
    categories = models.JSONField(_("data categories"), default=list)
    given_by = models.CharField(_("given by"), max_length=10, choices=GivenBy.choices)
    language = models.CharField(_("language of the information given"), max_length=3)
    interpreter_used = models.BooleanField(_("an interpreter was used"), default=False)
    sealed_declaration = models.BinaryField(null=True, blank=True)
    sealed_evidence = models.BinaryField(null=True, blank=True)
    evidence_content_type = models.CharField(max_length=60, blank=True)
    given_at = models.DateTimeField(_("given at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-given_at"]
        indexes = [models.Index(fields=["person", "purpose"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(recipient_country="")
                | models.Q(recipient_organisation__isnull=False),
                name="consent_has_recipient",
            )
        ]

    def __str__(self) -> str:
        return f"consent {self.purpose}"

    def is_valid_at(self, moment: object | None = None) -> bool:
        """Return True if neither withdrawn nor expired at ``moment`` (now)."""
        now = moment or timezone.now()
        if self.withdrawn_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now  # type: ignore[operator]

    def names_recipient(self, organisation: Organisation | None, country: str) -> bool:
        """Return True if this consent names the recipient.

        A consent naming an organisation covers only that organisation; one
        naming only a country covers every organisation in that country.
        """
        if self.recipient_organisation_id is not None:
            return (
                organisation is not None
                and organisation.pk == self.recipient_organisation_id
            )
        return bool(country) and self.recipient_country.code == country.upper()

    def declaration_context(self) -> bytes:
        return b"trm:consent-declaration:" + self.id.bytes

    def evidence_context(self) -> bytes:
        return b"trm:consent-evidence:" + self.id.bytes
