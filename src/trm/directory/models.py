"""The service directory (SOP 2 and SOP 3): who offers which assistance, where.

A :class:`ServiceProfile` describes what one organisation offers to trafficked
persons: service types, target groups, languages, where it is, how to reach it
(the organisation's lines, never a person's), and its current capacity. The
services in :mod:`trm.directory.services` and the importer are its only writers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trm.common.text import fold_key


class ServiceType(models.TextChoices):
    """A kind of assistance a service provider offers.

    Our own list: HTCDS defines no readable ``spl_Type`` (support type) code
    list (see the :mod:`trm.common.htcds` docstring), so these codes are not
    HTCDS codes. Imported labels are mapped onto them by
    :data:`trm.directory.importer.SERVICE_SYNONYMS`.
    """

    SHELTER = "shelter", _("Shelter")
    CRISIS_ACCOMMODATION = "crisis_accommodation", _("Crisis accommodation")
    MEDICAL = "medical", _("Medical care")
    PSYCHOLOGICAL = "psychological", _("Psychological and psychosocial support")
    LEGAL_AID = "legal_aid", _("Legal aid")
    INTERPRETATION = "interpretation", _("Interpretation")
    EDUCATION = "education", _("Education")
    VOCATIONAL_TRAINING = "vocational_training", _("Vocational training")
    EMPLOYMENT = "employment", _("Employment")
    EMPOWERMENT = "empowerment", _("Economic empowerment")
    DOCUMENTS = "documents", _("Identity and travel documents")
    FAMILY_TRACING = "family_tracing", _("Family tracing")
    OTHER = "other", _("Other")


class TargetGroup(models.TextChoices):
    """Whom a service provider assists."""

    WOMEN = "women", _("Women")
    MEN = "men", _("Men")
    CHILDREN = "children", _("Children")
    FAMILIES = "families", _("Families")


#: Longest search key: NFKC and casefolding may lengthen text ("ß" → "ss").
SEARCH_KEY_MAX = 600
REGION_KEY_MAX = 240


class ServiceProfile(models.Model):
    """What one organisation offers in the directory, and its capacity."""

    organisation = models.OneToOneField(
        "accounts.Organisation",
        on_delete=models.CASCADE,
        related_name="service_profile",
        verbose_name=_("organisation"),
    )
    service_types = models.JSONField(_("service types"), default=list, blank=True)
    target_groups = models.JSONField(_("target groups"), default=list, blank=True)
    languages = models.JSONField(_("languages (ISO 639)"), default=list, blank=True)
    region = models.CharField(
        _("region (state or province)"), max_length=120, blank=True
    )
    address = models.TextField(_("address"), blank=True)
    opening_hours = models.CharField(_("opening hours"), max_length=200, blank=True)
    contact_24_7 = models.CharField(
        _("24/7 contact"),
        max_length=200,
        blank=True,
        help_text=_("A line of the organisation, not a person's number."),
    )
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    website = models.CharField(_("website"), max_length=200, blank=True)
    accepts_referrals = models.BooleanField(_("accepts referrals"), default=True)
    places_total = models.PositiveIntegerField(
        _("places in total"), null=True, blank=True
    )
    places_free = models.PositiveIntegerField(_("free places"), null=True, blank=True)
    capacity_updated_at = models.DateTimeField(null=True, blank=True)
    capacity_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    #: Where an imported profile came from, e.g. ``"iom-nigeria-2020"``, and its
    #: id there: a re-import updates the same profile.
    source = models.CharField(_("source"), max_length=60, blank=True)
    external_id = models.CharField(_("id at the source"), max_length=60, blank=True)
    #: :func:`~trm.common.text.fold_key` of the organisation's name and the
    #: region, kept by the services (search ignoring case in any script).
    search_key = models.CharField(
        max_length=SEARCH_KEY_MAX, db_index=True, editable=False
    )
    #: ``fold_key(region)``, kept by the services: the region filter.
    region_key = models.CharField(
        max_length=REGION_KEY_MAX, blank=True, db_index=True, editable=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(places_total__isnull=True)
                | Q(places_free__isnull=True)
                | Q(places_free__lte=models.F("places_total")),
                name="directory_free_within_total",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True)
                | Q(latitude__gte=-90, latitude__lte=90),
                name="directory_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True)
                | Q(longitude__gte=-180, longitude__lte=180),
                name="directory_longitude_range",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="directory_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["accepts_referrals"], name="directory_accepts_idx"),
        ]

    def __str__(self) -> str:
        return f"Service profile {self.organisation_id}"

    def search_key_now(self, organisation_name: str) -> str:
        """Return the search key for ``organisation_name`` and this region."""
        return fold_key(f"{organisation_name} {self.region}")[:SEARCH_KEY_MAX]

    def region_key_now(self) -> str:
        """Return the folded region the region filter compares with."""
        return fold_key(self.region)[:REGION_KEY_MAX]

    def has_free_places(self) -> bool | None:
        """Return whether places are free; None when capacity is not reported."""
        if self.places_free is None:
            return None
        return self.places_free > 0

    def service_type_labels(self) -> list[str]:
        """Return the human labels of the service types, in stored order."""
        labels = dict(ServiceType.choices)
        return [str(labels.get(code, code)) for code in self.service_types]

    def target_group_labels(self) -> list[str]:
        """Return the human labels of the target groups, in stored order."""
        labels = dict(TargetGroup.choices)
        return [str(labels.get(code, code)) for code in self.target_groups]
