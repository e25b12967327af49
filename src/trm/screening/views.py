"""Pages to screen a case against the ILO/EC indicators, and to read screenings.

Reads go through :mod:`trm.screening.selectors` and
:mod:`trm.cases.selectors` (access-checked, audited); the one write through
:func:`trm.screening.services.screening_record`. A case the user may not see
answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import Role, User
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.errors import PersonErased
from trm.cases.models import Case
from trm.cases.tracks import Identification
from trm.common.errors import DomainError, NotFound
from trm.screening import selectors, services
from trm.screening.errors import (
    ScreeningCaseClosed,
    ScreeningInvalidInput,
    ScreeningRoleRequired,
)
from trm.screening.forms import (
    ExploitationForm,
    ScreeningForm,
    evidence_name,
    fact_name,
    value_name,
)
from trm.screening.instrument import (
    EXPLOITATION,
    EXPLOITATION_LABELS,
    Indicator,
    IndicatorList,
    Instrument,
    describe_term,
    load_instrument,
)
from trm.screening.models import Screening
from trm.screening.scoring import (
    ACTION_LABELS,
    EVIDENCE_LABELS,
    REASON_LABELS,
    RULE_LABELS,
    VALUE_LABELS,
)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def presume_url(case: Case) -> str | None:
    """Return the URL of "record as presumed trafficked person", if it exists yet.

    That step is a decision of its own (:mod:`trm.identification`, SOPS §6.5
    rule 10): the screening pages only link to it.
    """
    if case.is_closed or case.identification != Identification.SCREENING:
        return None
    try:
        return reverse("identification:presume", args=[case.pk])
    except NoReverseMatch:
        return None


def may_screen(case: Case, access: CaseAccess | None) -> bool:
    """Return True if ``access`` may record a screening on ``case`` now."""
    return (
        access is not None
        and bool(access.roles & services.SCREENING_ROLES)
        and not case.is_closed
        and not case.person.is_erased
    )


def _check_may_screen(case: Case, access: CaseAccess) -> None:
    if not access.roles & services.SCREENING_ROLES:
        raise ScreeningRoleRequired(
            _("Only these roles on the case may screen: %(roles)s.")
            % {
                "roles": ", ".join(
                    str(Role(r).label) for r in sorted(services.SCREENING_ROLES)
                )
            }
        )
    if case.person.is_erased:
        raise PersonErased(_("The person's data was erased."))
    if case.is_closed:
        raise ScreeningCaseClosed(_("The case is closed; re-open it to screen."))


def _kinds(values: list[str]) -> list[str]:
    chosen = [k for k in EXPLOITATION if k in values]
    return chosen or ["labour"]


# --- what the templates show --------------------------------------------------------


@dataclass(frozen=True)
class Row:
    indicator: Indicator
    title: str
    grade: str
    note: str
    value: Any
    evidence: Any


@dataclass(frozen=True)
class DimensionBlock:
    id: str
    title: str
    rows: list[Row]


@dataclass(frozen=True)
class ListBlock:
    indicator_list: IndicatorList
    title: str
    note: str
    dimensions: list[DimensionBlock]


def _grade_label(instrument: Instrument, grade: str) -> str:
    return _(instrument.grades.get(grade, grade))


def _form_sections(instrument: Instrument, form: ScreeningForm) -> list[ListBlock]:
    sections = []
    for indicator_list in form.lists:
        dimensions = []
        for dimension in instrument.dimensions:
            rows = [
                Row(
                    indicator=indicator,
                    title=_(indicator.title),
                    grade=_grade_label(instrument, indicator.grade),
                    note=_(indicator.note) if indicator.note else "",
                    value=form[value_name(indicator.id)],
                    evidence=form[evidence_name(indicator.id)],
                )
                for indicator in indicator_list.in_dimension(dimension.id)
            ]
            if rows:
                dimensions.append(
                    DimensionBlock(id=dimension.id, title=_(dimension.title), rows=rows)
                )
        sections.append(
            ListBlock(
                indicator_list=indicator_list,
                title=_(indicator_list.title),
                note=_(indicator_list.note) if indicator_list.note else "",
                dimensions=dimensions,
            )
        )
    return sections


def _rules(instrument: Instrument) -> dict[str, Any]:
    return {
        "dimension": instrument.dimension_rule.describe(),
        "dimension_verified": instrument.dimension_rule.verified,
        "adult": describe_term(instrument.combination_rule.by_population["adult"]),
        "child": describe_term(instrument.combination_rule.by_population["child"]),
        "combination_verified": instrument.combination_rule.verified,
    }


@dataclass(frozen=True)
class ErrorLink:
    """One answer in error, as the summary at the top of the form lists it."""

    #: The id of the element to jump to; empty when there is nothing to show.
    anchor: str
    title: str
    errors: list[str]


def _error_links(
    form: ScreeningForm, sections: list[ListBlock], facts: list[tuple[Any, Any]]
) -> list[ErrorLink]:
    """Return the answers in error in the order the form shows them."""
    if not form.errors:
        return []
    links = [
        ErrorLink(
            anchor=f"fact-{fact.id}",
            title=_(fact.title),
            errors=[str(e) for e in field.errors],
        )
        for fact, field in facts
        if field.errors
    ]
    links += [
        ErrorLink(
            anchor=f"row-{row.indicator.id}",
            # A list may have the same title in two dimensions (debt bondage).
            title=_("%(title)s (%(dimension)s)")
            % {"title": row.title, "dimension": block.id},
            errors=[str(e) for e in (*row.value.errors, *row.evidence.errors)],
        )
        for section in sections
        for block in section.dimensions
        for row in block.rows
        if row.value.errors or row.evidence.errors
    ]
    note = form["note"]
    if note.errors:
        links.append(
            ErrorLink(
                anchor=note.auto_id,
                title=str(note.label),
                errors=[str(e) for e in note.errors],
            )
        )
    return links


def _apply_error(form: ScreeningForm, exc: DomainError) -> None:
    field = exc.details.get("field")
    ids = [i for i in exc.details.get("ids", []) if isinstance(i, str)]
    # Beside an answer, say what is wrong with it alone: its title is next to it.
    reasons = exc.reasons if isinstance(exc, ScreeningInvalidInput) else {}
    marked = False
    for indicator_id in ids:
        for name in (evidence_name(indicator_id), fact_name(indicator_id)):
            if name in form.fields:
                form.add_error(name, reasons.get(indicator_id, exc.message))
                marked = True
                break
    if field == "note":
        form.add_error("note", exc.message)
    elif not marked:
        form.add_error(None, exc.message)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def screening_new_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Screen the case's person against the indicator lists (a child's for a child)."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    _check_may_screen(case, access)
    source = request.POST if request.method == "POST" else request.GET
    kinds = _kinds(source.getlist("exploitation"))
    chosen = selectors.lists_for_case(user=user, case=case, exploitation=kinds)
    instrument = chosen.instrument
    facts = instrument.facts_for(entry.id for entry in chosen.lists)
    if request.method == "POST":
        form = ScreeningForm(request.POST, lists=chosen.lists, facts=facts)
    else:
        form = ScreeningForm(
            initial={"exploitation": kinds}, lists=chosen.lists, facts=facts
        )
    if request.method == "POST" and form.is_valid():
        try:
            screening = services.screening_record(
                actor=user,
                case_id=case.pk,
                exploitation=form.cleaned_data["exploitation"],
                responses=form.responses(),
                facts=form.fact_values(),
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            _apply_error(form, exc)
        else:
            messages.success(request, _("The screening is recorded."))
            return HttpResponseRedirect(
                reverse("screening:detail", args=[case.pk, screening.pk])
            )
    if request.method == "POST" and form.errors:
        messages.error(
            request,
            _("The screening was not recorded. Correct the answers marked below."),
        )
    sections = _form_sections(instrument, form)
    fact_fields = [(fact, form[fact_name(fact.id)]) for fact in facts]
    return render(
        request,
        "screening/form.html",
        {
            "case": case,
            "form": form,
            "error_links": _error_links(form, sections, fact_fields),
            # Its own ids: the screening form repeats the choice as hidden inputs.
            "kinds_form": ExploitationForm(
                initial={"exploitation": kinds}, auto_id="id_kinds_%s"
            ),
            "kinds": [EXPLOITATION_LABELS[k] for k in kinds],
            "child": chosen.child,
            "instrument": instrument,
            "sections": sections,
            "facts": fact_fields,
            "rules": _rules(instrument),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_GET
def screening_list_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """List the case's screenings, newest first."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    screenings = selectors.screenings_for_user(user=user, case=case)
    instrument = load_instrument()
    return render(
        request,
        "screening/list.html",
        {
            "case": case,
            "rows": [(s, _list_titles(instrument, s)) for s in screenings],
            "may_screen": may_screen(case, access),
        },
    )


def _list_titles(instrument: Instrument, screening: Screening) -> list[str]:
    titles = []
    for list_id in screening.list_ids:
        try:
            titles.append(_(instrument.get_list(list_id).title))
        except KeyError:
            titles.append(list_id)
    return titles


@dataclass(frozen=True)
class DimensionSummary:
    title: str
    present: bool
    could_be_present: bool
    counts: list[tuple[str, int]]
    absent: int
    not_assessed: int


@dataclass(frozen=True)
class Answer:
    title: str
    grade: str
    value: str
    evidence: str
    present: bool


@dataclass(frozen=True)
class ListSummary:
    id: str
    title: str
    scored: bool
    verified: bool
    result: str
    rule_result: str
    reason: str
    dimensions: list[DimensionSummary]
    facts: list[tuple[str, str]]
    answers: list[Answer]
    not_assessed: int


def _summaries(
    instrument: Instrument,
    screening: Screening,
    responses: dict[str, dict[str, str]] | None,
) -> list[ListSummary]:
    stored = screening.dimension_summary.get("lists", {})
    out = []
    for list_id in screening.list_ids:
        summary = stored.get(list_id, {})
        try:
            indicator_list: IndicatorList | None = instrument.get_list(list_id)
        except KeyError:
            indicator_list = None
        dimensions = []
        for dimension_id, values in summary.get("dimensions", {}).items():
            try:
                title = _(instrument.get_dimension(dimension_id).title)
            except KeyError:
                title = dimension_id
            dimensions.append(
                DimensionSummary(
                    title=title,
                    present=bool(values.get("present")),
                    could_be_present=bool(values.get("could_be_present")),
                    counts=[
                        (_grade_label(instrument, g), int(n))
                        for g, n in values.get("counts", {}).items()
                    ],
                    absent=int(values.get("absent", 0)),
                    not_assessed=int(values.get("not_assessed", 0)),
                )
            )
        facts = []
        for fact_id, value in summary.get("facts", {}).items():
            fact = next((f for f in instrument.facts if f.id == fact_id), None)
            title = _(fact.title) if fact else fact_id
            facts.append((title, str(VALUE_LABELS.get(value, value))))
        answers: list[Answer] = []
        not_assessed = 0
        if responses is not None and indicator_list is not None:
            for indicator in indicator_list.indicators:
                answer = responses.get(indicator.id)
                if answer is None or answer.get("value") == "not_assessed":
                    not_assessed += 1
                    continue
                evidence = answer.get("evidence", "")
                answers.append(
                    Answer(
                        title=_(indicator.title),
                        grade=_grade_label(instrument, indicator.grade),
                        value=str(VALUE_LABELS.get(answer["value"], answer["value"])),
                        evidence=str(EVIDENCE_LABELS.get(evidence, evidence)),
                        present=answer["value"] == "present",
                    )
                )
            answers.sort(key=lambda a: not a.present)
        reason = summary.get("reason", "")
        out.append(
            ListSummary(
                id=list_id,
                title=_(indicator_list.title) if indicator_list else list_id,
                scored=bool(summary.get("scored")),
                verified=bool(summary.get("verified")),
                result=str(ACTION_LABELS.get(summary.get("result", ""), "")),
                rule_result=str(RULE_LABELS.get(summary.get("rule_result", ""), "")),
                reason=str(REASON_LABELS.get(reason, "")),
                dimensions=dimensions,
                facts=facts,
                answers=answers,
                not_assessed=not_assessed,
            )
        )
    return out


@login_required
@never_cache
@require_GET
def screening_detail_view(
    request: HttpRequest, case_id: UUID, screening_id: UUID
) -> HttpResponse:
    """Show one screening: the recommended action, the dimensions, the answers.

    The answers and the note are left out for a user whose roles on the case are
    legal-track only (:func:`~trm.screening.selectors.screening_detail_for_user`).
    """
    user = _user(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    detail = selectors.screening_detail_for_user(
        user=user, case=case, screening_id=screening_id
    )
    screening = detail.screening
    instrument = load_instrument()
    return render(
        request,
        "screening/detail.html",
        {
            "case": case,
            "screening": screening,
            "detail": detail,
            "action_text": ACTION_LABELS.get(screening.result, screening.result),
            "rule_text": RULE_LABELS.get(screening.rule_result, screening.rule_result),
            "summaries": _summaries(instrument, screening, detail.responses),
            "kinds": [EXPLOITATION_LABELS.get(k, k) for k in screening.exploitation],
            "presume_url": presume_url(case),
            "instrument": instrument,
            "same_version": screening.instrument_version == instrument.version,
            "rules": _rules(instrument),
        },
    )
