"""API endpoints for screenings, under ``/api/v1/cases/{case_id}/screening``.

The same selectors and service as the web pages: the indicator lists a case
would use, recording a screening, the list of a case's screenings (results
only) and one screening with its answers (an audited read; results only for a
caller whose roles on the case are legal-track only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.cases import selectors as case_selectors
from trm.common.api import request_actor
from trm.screening import selectors, services
from trm.screening.errors import ScreeningInvalidInput
from trm.screening.instrument import IndicatorList, ScreeningInputError, describe_term
from trm.screening.models import Screening
from trm.screening.scoring import ACTION_LABELS

#: Mounted at ``/cases/{case_id}/screening``: ``case_id`` comes from the mount
#: prefix, so each operation marks it as a path parameter explicitly.
router = Router(tags=["screening"])


class ScreeningStrictIn(Schema):
    """Request bodies refuse unknown fields: a misspelt field is an error, not lost."""

    model_config = ConfigDict(extra="forbid")


class ResponseIn(ScreeningStrictIn):
    value: str = Field(max_length=20, description="present, absent or not_assessed")
    evidence: str = Field(
        "",
        max_length=20,
        description="observed, self_reported or documented (required when present)",
    )


class ScreeningIn(ScreeningStrictIn):
    exploitation: list[str] = Field(
        max_length=5, description="labour and/or sexual: one list each"
    )
    responses: dict[str, ResponseIn] = Field(
        default_factory=dict,
        max_length=services.MAX_RESPONSES,
        description="Indicator id → answer; indicators left out are not assessed.",
    )
    facts: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="Fact id → present/absent/not_assessed (e.g. recruitment_act).",
    )
    note: str = Field("", max_length=services.MAX_NOTE_CHARS)


class ListsQuery(Schema):
    exploitation: list[str] = Field(
        default_factory=list, description="labour and/or sexual; both when empty"
    )


class IndicatorOut(Schema):
    id: str
    dimension: str
    title: str
    grade: str
    verified: bool
    source: str
    note: str


class IndicatorListOut(Schema):
    id: str
    title: str
    population: str
    exploitation: str
    grades: list[str]
    scoring: bool = Field(description="False: recorded as a checklist, never scored")
    verified: bool
    source: str
    note: str
    indicators: list[IndicatorOut]


class DimensionOut(Schema):
    id: str
    key: str
    title: str


class FactOut(Schema):
    id: str
    title: str
    lists: list[str]


class RuleOut(Schema):
    rule: str
    source: str
    verified: bool


class ListsOut(Schema):
    instrument: str
    version: str
    verified: bool
    child: bool = Field(description="The person is or may be a child: child lists")
    dimension_rule: RuleOut
    combination_rule: RuleOut
    dimensions: list[DimensionOut]
    facts: list[FactOut]
    lists: list[IndicatorListOut]


class ScreeningOut(Schema):
    id: UUID
    case_id: UUID
    at: datetime
    assessor_id: int | None
    instrument: str
    instrument_version: str
    list_ids: list[str]
    exploitation: list[str]
    child_lists: bool
    result: str = Field(description="refer, continue_assessment or no_indication")
    result_text: str
    rule_result: str = Field(
        description="indicative_positive, insufficient_data or indicative_negative"
    )
    dimension_summary: dict[str, Any]


class AnswerOut(Schema):
    value: str
    evidence: str


class ScreeningDetailOut(ScreeningOut):
    answers_withheld: bool = Field(
        description="True when the caller's roles on the case are legal-track "
        "only (a prosecutor): the answers, facts and note are assistance "
        "material (SOPS §3) and are not given; the result is."
    )
    responses: dict[str, AnswerOut] | None = Field(
        description="None once the person was erased, or when withheld."
    )
    facts: dict[str, str]
    note: str | None = Field(description="None when unreadable or withheld.")


def _list_out(entry: IndicatorList) -> IndicatorListOut:
    return IndicatorListOut(
        id=entry.id,
        title=_(entry.title),
        population=entry.population,
        exploitation=entry.exploitation,
        grades=list(entry.grades),
        scoring=entry.scoring,
        verified=entry.verified,
        source=entry.source,
        note=_(entry.note) if entry.note else "",
        indicators=[
            IndicatorOut(
                id=i.id,
                dimension=i.dimension,
                title=_(i.title),
                grade=i.grade,
                verified=i.verified,
                source=i.source,
                note=_(i.note) if i.note else "",
            )
            for i in entry.indicators
        ],
    )


def _fields(screening: Screening) -> dict[str, Any]:
    return {
        "id": screening.pk,
        "case_id": screening.case_id,
        "at": screening.at,
        "assessor_id": screening.assessor_id,
        "instrument": screening.instrument,
        "instrument_version": screening.instrument_version,
        "list_ids": list(screening.list_ids),
        "exploitation": list(screening.exploitation),
        "child_lists": screening.child_lists,
        "result": screening.result,
        "result_text": str(ACTION_LABELS.get(screening.result, screening.result)),
        "rule_result": screening.rule_result,
        "dimension_summary": dict(screening.dimension_summary),
    }


@router.get(
    "/lists",
    response=ListsOut,
    summary="The indicator lists a screening of this case would use",
)
def screening_lists(
    request: HttpRequest, case_id: Path[UUID], query: Query[ListsQuery]
) -> ListsOut:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    try:
        chosen = selectors.lists_for_case(
            user=user, case=case, exploitation=query.exploitation or None
        )
    except ScreeningInputError as exc:
        raise ScreeningInvalidInput(
            exc.message, details={"field": exc.field, "ids": list(exc.ids)}
        ) from None
    instrument = chosen.instrument
    population = "child" if chosen.child else "adult"
    return ListsOut(
        instrument=instrument.code,
        version=instrument.version,
        verified=instrument.verified,
        child=chosen.child,
        dimension_rule=RuleOut(
            rule=instrument.dimension_rule.describe(),
            source=instrument.dimension_rule.source,
            verified=instrument.dimension_rule.verified,
        ),
        combination_rule=RuleOut(
            rule=describe_term(instrument.combination_rule.by_population[population]),
            source=instrument.combination_rule.source,
            verified=instrument.combination_rule.verified,
        ),
        dimensions=[
            DimensionOut(id=d.id, key=d.key, title=_(d.title))
            for d in instrument.dimensions
        ],
        facts=[
            FactOut(id=f.id, title=_(f.title), lists=list(f.lists))
            for f in instrument.facts_for(e.id for e in chosen.lists)
        ],
        lists=[_list_out(entry) for entry in chosen.lists],
    )


@router.post(
    "",
    response={201: ScreeningOut},
    summary="Record a screening (moves identification to “screening”, never beyond)",
)
def screening_record(
    request: HttpRequest, case_id: Path[UUID], payload: ScreeningIn
) -> Status[ScreeningOut]:
    screening = services.screening_record(
        actor=request_actor(request),
        case_id=case_id,
        exploitation=payload.exploitation,
        responses={
            k: {"value": v.value, "evidence": v.evidence}
            for k, v in payload.responses.items()
        },
        facts=payload.facts,
        note=payload.note,
    )
    return Status(201, ScreeningOut(**_fields(screening)))


@router.get(
    "", response=list[ScreeningOut], summary="Screenings of a case (results only)"
)
def screening_list(request: HttpRequest, case_id: Path[UUID]) -> list[ScreeningOut]:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    return [
        ScreeningOut(**_fields(s))
        for s in selectors.screenings_for_user(user=user, case=case)
    ]


@router.get(
    "/{uuid:screening_id}",
    response=ScreeningDetailOut,
    summary="One screening with its answers (an audited read; results only "
    "for a legal-track-only caller)",
)
def screening_detail(
    request: HttpRequest, case_id: Path[UUID], screening_id: UUID
) -> ScreeningDetailOut:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    detail = selectors.screening_detail_for_user(
        user=user, case=case, screening_id=screening_id
    )
    responses = (
        None
        if detail.responses is None
        else {
            k: AnswerOut(value=v.get("value", ""), evidence=v.get("evidence", ""))
            for k, v in detail.responses.items()
        }
    )
    return ScreeningDetailOut(
        **_fields(detail.screening),
        answers_withheld=detail.withheld,
        responses=responses,
        facts=detail.facts,
        note=detail.note,
    )
