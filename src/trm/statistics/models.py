"""Historical, de-identified records loaded from published datasets.

A :class:`HistoricalRecord` is one identified victim of a published dataset
(today only the CTDC Global Dataset, :mod:`trm.statistics.ctdc`) reduced to the
statistical attributes the NRM-style tables need (issue 8, item 3). It is never
linked to a Person or a Case and holds nothing that identifies anyone: no name,
date, place below country level, or free text. Codes follow our HTCDS
vocabulary (:mod:`trm.common.htcds`) where one exists; CTDC age bands are kept
as CTDC writes them (``"0--8"`` … ``"48+"``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from trm.common.htcds import Gender


class HistoricalRecord(models.Model):
    """One de-identified record of a published dataset (see docs/ctdc-import.md).

    ``row_key`` makes imports idempotent: SHA-256 (hex) of the source, the
    release, the data-row number and the row's raw cells, so re-importing the
    same file adds nothing while identical rows of the file (there are many:
    records are coarse) stay distinct records.
    """

    source = models.CharField(_("source"), max_length=16)
    release = models.CharField(_("release"), max_length=32)
    row_key = models.CharField(_("row key"), max_length=64, unique=True)
    year_of_registration = models.PositiveSmallIntegerField(
        _("year of registration"), null=True, blank=True
    )
    data_source = models.CharField(
        _("data source"),
        max_length=32,
        blank=True,
        help_text=_('"CaseManagement", "Hotline" or empty when unknown.'),
    )
    gender = models.CharField(
        _("gender"),
        max_length=30,
        choices=Gender.choices,
        default=Gender.NOT_SPECIFIED_UNKNOWN,
    )
    age_group = models.CharField(
        _("age group"),
        max_length=8,
        blank=True,
        help_text=_('The CTDC age band as published, e.g. "9--17"; empty if unknown.'),
    )
    is_child = models.BooleanField(_("child at registration"), null=True)
    is_child_at_exploitation = models.BooleanField(
        _("child at exploitation"), null=True
    )
    citizenship = models.CharField(
        _("citizenship"),
        max_length=2,
        blank=True,
        help_text=_("ISO 3166-1 alpha-2; empty when missing or unknown."),
    )
    country_of_exploitation = models.CharField(
        _("country of exploitation"),
        max_length=2,
        blank=True,
        help_text=_("ISO 3166-1 alpha-2; empty when missing or unknown."),
    )
    exploitation_types = models.JSONField(
        _("types of exploitation"),
        default=list,
        help_text=_("HTCDS TypeOfExploitation codes."),
    )
    means_of_control = models.JSONField(
        _("means of control"),
        default=list,
        help_text=_("HTCDS MethodsOfControl codes."),
    )
    types_of_labour = models.JSONField(_("types of labour"), default=list)
    types_of_sexual_exploitation = models.JSONField(
        _("types of sexual exploitation"), default=list
    )
    is_abduction = models.BooleanField(_("abduction"), null=True)
    recruiter_relations = models.JSONField(_("recruiter relations"), default=list)

    class Meta:
        verbose_name = _("historical record")
        verbose_name_plural = _("historical records")
        indexes = [
            models.Index(fields=["year_of_registration"], name="stat_hist_year"),
            models.Index(fields=["citizenship"], name="stat_hist_citizenship"),
            models.Index(
                fields=["country_of_exploitation"], name="stat_hist_exploitation"
            ),
            models.Index(fields=["gender"], name="stat_hist_gender"),
            models.Index(fields=["source", "release"], name="stat_hist_release"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.release} {self.pk}"


class AggregateStatus(models.TextChoices):
    """Where one node's answer to a regional table request stands."""

    WAITING = "waiting", _("Waiting")
    ANSWERED = "answered", _("Answered")
    REFUSED = "refused", _("Refused")


class AggregateRequest(models.Model):
    """A regional table this (coordinator) node asked its peers for
    (``stats.aggregate.request``; :mod:`trm.statistics.regional`).

    The table is agreed by its spec: ``rows`` and ``columns`` (codes of
    :data:`trm.statistics.tables.DIMENSIONS`; ``columns`` ``""`` for none), the
    years of registration (None: open) and the sources. ``id`` is the request id
    every answer quotes. Holds no personal data.
    """

    id = models.UUIDField(primary_key=True)
    rows = models.CharField(_("rows"), max_length=40)
    columns = models.CharField(_("columns"), max_length=40, blank=True)
    first_year = models.PositiveSmallIntegerField(_("first year"), null=True)
    last_year = models.PositiveSmallIntegerField(_("last year"), null=True)
    sources = models.JSONField(_("sources"), default=list)
    requested_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"))

    class Meta:
        ordering = ("-requested_at",)
        verbose_name = _("regional table request")
        verbose_name_plural = _("regional table requests")

    def __str__(self) -> str:
        return f"{self.rows} × {self.columns or 'total'} ({self.pk})"


class AggregateResponse(models.Model):
    """One peer node's part in an :class:`AggregateRequest`: the message that
    asked it, then its answer (``stats.aggregate.response``).

    ``table`` is the node's disclosure-controlled table as it sent it
    (:class:`trm.statistics.messages.StatsAggregateResponseV1` fields ``rows``,
    ``columns``, ``cells``, ``row_totals``, ``column_totals``,
    ``grand_total``, ``threshold``, ``base``, ``note``): rounded figures and
    suppressed ones (None with a reason), never exact small counts.
    """

    request = models.ForeignKey(
        AggregateRequest, on_delete=models.CASCADE, related_name="responses"
    )
    peer_node = models.CharField(_("node"), max_length=64)
    msg_id = models.UUIDField(_("request message"), unique=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=AggregateStatus.choices,
        default=AggregateStatus.WAITING,
    )
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    table = models.JSONField(_("table"), null=True)
    answered_at = models.DateTimeField(_("answered at"), null=True)

    class Meta:
        ordering = ("peer_node",)
        constraints = [
            models.UniqueConstraint(
                fields=("request", "peer_node"), name="statistics_one_answer_per_node"
            )
        ]
        verbose_name = _("regional table answer")
        verbose_name_plural = _("regional table answers")

    def __str__(self) -> str:
        return f"{self.peer_node}: {self.status}"


class HistoricalRelease(models.Model):
    """A release of a published dataset imported into :class:`HistoricalRecord`
    (e.g. CTDC ``2020-04-14``; :mod:`trm.statistics.releases`).

    A corrected or newer CTDC file is imported under its own release; the
    newest release is the one counted, the older ones are ``superseded_at``
    and left out of every table (otherwise each person would be counted once
    per release). Their records stay, so releases can be compared. HTCDS
    files are datasets of their own and never superseded
    (:data:`trm.statistics.releases.VERSIONED_SOURCES`).
    """

    source = models.CharField(_("source"), max_length=16)
    release = models.CharField(_("release"), max_length=32)
    imported_at = models.DateTimeField(_("first imported at"))
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        ordering = ("source", "-imported_at")
        constraints = [
            models.UniqueConstraint(
                fields=("source", "release"), name="statistics_one_release"
            )
        ]
        verbose_name = _("dataset release")
        verbose_name_plural = _("dataset releases")

    def __str__(self) -> str:
        return f"{self.source} {self.release}"
