"""The subject-access export (GDPR Art. 15 and 20): collect, then render.

:func:`collect` gathers everything held about a person into one JSON-ready
structure; :func:`render_json`, :func:`render_html` and :func:`render_pdf` turn
it into a download. Access checks and the audit entry are in
:func:`trm.dataprotection.selectors.subject_access_export`, the only caller.

The PDF is made with xhtml2pdf (pure Python, on ReportLab) from the same HTML.
Cyrillic needs a TrueType font: DejaVu Sans from Debian's ``fonts-dejavu-core``
(:data:`FONT_DIR`) when installed; otherwise the PDF falls back to Helvetica
and says so in its footer.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pycountry
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_countries import countries

from trm.accounts.models import Role, User
from trm.audit.models import AuditEntry
from trm.cases.access import case_access
from trm.cases.identity import PersonIdentity
from trm.cases.labels import event_kind_label
from trm.cases.models import (
    AgeBand,
    Case,
    CaseEvent,
    CaseNote,
    CaseTeamMember,
    ClosureReason,
    Person,
    Visibility,
)
from trm.cases.tracks import TRACKS
from trm.common import keys
from trm.common.htcds import CaseStatus, Gender
from trm.consent.models import Consent, DataCategory, GivenBy, Purpose
from trm.dataprotection import crypto
from trm.dataprotection.models import ErasureReason, ErasureRequest
from trm.identification.models import RightsContext, RightsInformation, RightsItem
from trm.screening.instrument import Indicator, Instrument, load_instrument
from trm.screening.models import Screening
from trm.screening.scoring import (
    ACTION_LABELS,
    EVIDENCE_LABELS,
    RULE_LABELS,
    VALUE_LABELS,
)

FORMATS = ("json", "html", "pdf")
SCHEMA = "trm.subject-access.v1"
#: Photo types shown inline in the HTML/PDF export (anything else: JSON only).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
#: Where Debian's fonts-dejavu-core puts DejaVu Sans (Latin, Cyrillic, Greek).
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}


@dataclass(frozen=True)
class SubjectAccessExport:
    """Everything held about a person, ready to render (JSON, HTML or PDF).

    Attributes:
        data: JSON-ready structure (dates as datetimes; encode with
            ``DjangoJSONEncoder``); labels are in ``language``.
        language: the language the export is rendered in.
        case_number: for the download file name (no personal data).
    """

    data: dict[str, Any]
    language: str
    case_number: str


def export_language(person: Person) -> str:
    """Return the first of the person's languages this node has a catalogue for.

    ISO 639-3 codes (``ron``) are mapped to the two-letter code (``ro``). When
    none matches, the current (the exporting user's) language is used.
    """
    available = {code for code, _name in settings.LANGUAGES}
    for raw in person.languages:
        code = str(raw).strip().lower()
        if code in available:
            return code
        lang = pycountry.languages.get(alpha_3=code)
        alpha_2 = getattr(lang, "alpha_2", None) if lang is not None else None
        if alpha_2 in available:
            return str(alpha_2)
    return translation.get_language() or settings.LANGUAGE_CODE


class _Opener:
    """Decrypts under one person's data key, fetched once (None once erased)."""

    def __init__(self, person: Person) -> None:
        self.key: bytes | None = None
        if not person.is_erased:
            try:
                self.key = crypto.data_key(person.data_key_id)
            except crypto.KeyDestroyed:
                self.key = None

    def raw(self, blob: bytes | memoryview | None, context: bytes) -> bytes | None:
        if self.key is None or blob is None or len(blob) == 0:
            return None
        return keys.aead_open(self.key, blob, context=context)

    def text(self, blob: bytes | memoryview | None, context: bytes) -> str | None:
        raw = self.raw(blob, context)
        return None if raw is None else raw.decode()


def _choice(choices: type[Any], code: str) -> dict[str, str] | None:
    if not code:
        return None
    label = dict(choices.choices).get(code, code)
    return {"code": code, "label": str(label)}


def _language_label(code: str) -> str:
    lang = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
    lang = lang or pycountry.languages.get(alpha_3=code)
    return str(getattr(lang, "name", code))


def _identity(opener: _Opener, person: Person) -> dict[str, Any] | None:
    raw = opener.raw(person.sealed_identity, person.identity_context())
    if raw is None:
        return None
    return PersonIdentity.model_validate_json(raw).model_dump(mode="json")


def _person_section(opener: _Opener, person: Person) -> dict[str, Any]:
    photo = None
    raw_photo = opener.raw(person.sealed_photo, person.photo_context())
    if raw_photo is not None:
        photo = {
            "content_type": person.photo_content_type,
            "size_bytes": len(raw_photo),
            "base64": base64.b64encode(raw_photo).decode(),
            "inline": person.photo_content_type in INLINE_IMAGE_TYPES,
        }
    return {
        "subject_ref": str(person.subject_ref),
        "created_at": person.created_at,
        "erased": person.is_erased,
        "erased_at": person.erased_at,
        "identity": _identity(opener, person),
        "photo": photo,
        "attributes": {
            "gender": _choice(Gender, person.gender),
            "age_band": _choice(AgeBand, person.age_band),
            "age_uncertain": person.age_uncertain,
            "presumed_child": person.presumed_child,
            "asylum_applicant": person.asylum_applicant,
            "citizenships": [
                {"code": c, "label": str(countries.name(c) or c)}
                for c in person.citizenships
            ],
            "languages": [
                {"code": c, "label": _language_label(c)} for c in person.languages
            ],
        },
    }


def _case_section(
    opener: _Opener, case: Case, levels: list[str], org_names: dict[int, str]
) -> dict[str, Any]:
    tracks = []
    for name, track in TRACKS.items():
        state = case.state_of(name)
        tracks.append(
            {
                "track": name,
                "label": str(track.label),
                "state": state,
                "state_label": str(dict(track.states.choices).get(state, state)),
            }
        )
    team = [
        {
            "role": _choice(Role, member.role),
            "organisation": (
                member.user.organisation.name if member.user.organisation else ""
            ),
            "added_at": member.added_at,
        }
        for member in CaseTeamMember.objects.filter(case=case)
        .select_related("user__organisation")
        .order_by("added_at")
    ]
    timeline = []
    for event in CaseEvent.objects.filter(case=case, visibility__in=levels).order_by(
        "at"
    ):
        moved = TRACKS.get(event.track)
        states = dict(moved.states.choices) if moved else {}
        timeline.append(
            {
                "at": event.at,
                "kind": event.kind,
                "label": event_kind_label(event.kind),
                "code": event.code,
                "track": _label_or_none(event.track, moved.label if moved else ""),
                "from_state": _label_or_none(
                    event.from_state, states.get(event.from_state, "")
                ),
                "to_state": _label_or_none(
                    event.to_state, states.get(event.to_state, "")
                ),
                "visibility": _choice(Visibility, event.visibility),
                "by_organisation": org_names.get(event.actor_id or 0, ""),
                "detail": opener.text(event.sealed_detail, event.detail_context()),
            }
        )
    notes = [
        {
            "id": str(note.pk),
            "created_at": note.created_at,
            "visibility": _choice(Visibility, note.visibility),
            "by_organisation": org_names.get(note.author_id or 0, ""),
            "text": opener.text(note.sealed_text, note.text_context()),
        }
        for note in CaseNote.objects.filter(case=case, visibility__in=levels).order_by(
            "created_at"
        )
    ]
    # Screenings and rights information have no visibility of their own: the
    # whole case team sees them, as it sees a note marked "team".
    team_visible = Visibility.TEAM in levels
    return {
        "id": str(case.pk),
        "number": case.number,
        "lead_organisation": case.lead_organisation.name,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "closure_reason": _choice(ClosureReason, case.closure_reason),
        "status": _choice(CaseStatus, case.htcds_status()),
        "tracks": tracks,
        "team": team,
        "timeline": timeline,
        "notes": notes,
        "screenings": (
            [
                _screening_section(opener, screening, org_names)
                for screening in Screening.objects.filter(case=case).order_by(
                    "at", "pk"
                )
            ]
            if team_visible
            else []
        ),
        "rights_information": (
            [
                _rights_section(info, org_names)
                for info in RightsInformation.objects.filter(case=case).order_by(
                    "at", "pk"
                )
            ]
            if team_visible
            else []
        ),
    }


def _label_or_none(code: str, label: object) -> dict[str, str] | None:
    return {"code": code, "label": str(label or code)} if code else None


def _indicators(instrument: Instrument, list_ids: list[str]) -> dict[str, Indicator]:
    found: dict[str, Indicator] = {}
    for list_id in list_ids:
        try:
            indicator_list = instrument.get_list(list_id)
        except KeyError:  # a list of another version of the instrument
            continue
        found.update((i.id, i) for i in indicator_list.indicators)
    return found


def _screening_answers(
    instrument: Instrument, screening: Screening, answers: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    indicators = _indicators(instrument, screening.list_ids)
    responses: dict[str, dict[str, str]] = answers.get("responses", {})
    # The instrument's order (list, dimension, indicator), then unknown ids.
    order = [i for i in indicators if i in responses]
    order += sorted(set(responses) - set(indicators))
    rows = []
    for indicator_id in order:
        answer = responses[indicator_id]
        indicator = indicators.get(indicator_id)
        value, evidence = answer.get("value", ""), answer.get("evidence", "")
        rows.append(
            {
                "indicator": indicator_id,
                "title": _(indicator.title) if indicator else indicator_id,
                "list": indicator.list_id if indicator else "",
                "value": _label_or_none(value, VALUE_LABELS.get(value)),
                "evidence": _label_or_none(evidence, EVIDENCE_LABELS.get(evidence)),
            }
        )
    titles = {f.id: f.title for f in instrument.facts}
    facts = [
        {
            "fact": fact_id,
            "title": _(titles[fact_id]) if fact_id in titles else fact_id,
            "value": _label_or_none(value, VALUE_LABELS.get(value)),
        }
        for fact_id, value in sorted(answers.get("facts", {}).items())
    ]
    return rows, facts


def _screening_section(
    opener: _Opener, screening: Screening, org_names: dict[int, str]
) -> dict[str, Any]:
    instrument = load_instrument()
    lists = []
    for list_id in screening.list_ids:
        try:
            title = _(instrument.get_list(list_id).title)
        except KeyError:
            title = list_id
        lists.append({"id": list_id, "title": title})
    raw = opener.raw(screening.sealed_responses, screening.responses_context())
    answers: list[dict[str, Any]] | None = None
    facts: list[dict[str, Any]] | None = None
    note: str | None = None
    if raw is not None:
        sealed = json.loads(raw)
        answers, facts = _screening_answers(instrument, screening, sealed)
        note = str(sealed.get("note", ""))
    return {
        "id": str(screening.pk),
        "at": screening.at,
        "by_organisation": org_names.get(screening.assessor_id or 0, ""),
        "instrument": {
            "code": screening.instrument,
            "version": screening.instrument_version,
        },
        "lists": lists,
        "child_lists": screening.child_lists,
        "result": _label_or_none(screening.result, ACTION_LABELS.get(screening.result)),
        "rule_result": _label_or_none(
            screening.rule_result, RULE_LABELS.get(screening.rule_result)
        ),
        "dimension_summary": screening.dimension_summary,
        "answers": answers,
        "facts": facts,
        "note": note,
    }


def _rights_section(
    info: RightsInformation, org_names: dict[int, str]
) -> dict[str, Any]:
    return {
        "id": str(info.pk),
        "at": info.at,
        "by_organisation": org_names.get(info.informed_by_id or 0, ""),
        "context": _choice(RightsContext, info.context),
        "items": [_choice(RightsItem, item) for item in info.items],
        "language": _label_or_none(info.language, _language_label(info.language)),
        "interpreter": info.interpreter,
    }


def _consent_section(opener: _Opener, consent: Consent) -> dict[str, Any]:
    evidence = None
    raw = opener.raw(consent.sealed_evidence, consent.evidence_context())
    if raw is not None:
        evidence = {
            "content_type": consent.evidence_content_type,
            "size_bytes": len(raw),
            "base64": base64.b64encode(raw).decode(),
        }
    elif consent.sealed_evidence:
        evidence = {"content_type": consent.evidence_content_type, "erased": True}
    return {
        "id": str(consent.pk),
        "case_number": consent.case.number if consent.case else "",
        "purpose": _choice(Purpose, consent.purpose),
        "recipient_organisation": (
            consent.recipient_organisation.name
            if consent.recipient_organisation
            else ""
        ),
        "recipient_country": (
            {
                "code": consent.recipient_country.code,
                "label": str(consent.recipient_country.name),
            }
            if consent.recipient_country
            else None
        ),
        "categories": [_choice(DataCategory, c) for c in consent.categories],
        "given_by": _choice(GivenBy, consent.given_by),
        "language": consent.language,
        "interpreter_used": consent.interpreter_used,
        "given_at": consent.given_at,
        "expires_at": consent.expires_at,
        "withdrawn_at": consent.withdrawn_at,
        "valid_now": consent.is_valid_at(),
        "declaration": opener.text(
            consent.sealed_declaration, consent.declaration_context()
        ),
        "evidence": evidence,
    }


def _audit_section(targets: Q, org_names: dict[int, str]) -> list[dict[str, Any]]:
    records = {
        Person._meta.label_lower: _("Person"),
        Case._meta.label_lower: _("Case"),
        CaseNote._meta.label_lower: _("Note"),
        Screening._meta.label_lower: _("Screening"),
        Consent._meta.label_lower: _("Consent"),
        ErasureRequest._meta.label_lower: _("Erasure request"),
    }
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "action": e.action,
            "target_type": e.target_type,
            "record": records.get(e.target_type, e.target_type),
            "actor_kind": e.actor_kind,
            "actor_organisation": org_names.get(e.actor_id or 0, ""),
        }
        for e in AuditEntry.objects.filter(targets).order_by("seq")
    ]


def _organisation_names(user_ids: set[int]) -> dict[int, str]:
    return {
        pk: name or ""
        for pk, name in User.objects.filter(pk__in=user_ids).values_list(
            "pk", "organisation__name"
        )
    }


def collect(*, user: User, person: Person, full: bool) -> dict[str, Any]:
    """Return everything held about ``person`` that the export covers.

    Call under ``translation.override(language)``: labels are translated as
    they are collected. Access is the caller's job
    (:func:`trm.dataprotection.selectors.subject_access_export`).

    Args:
        full: the data-protection officer's export (every case, every note);
            otherwise only the cases ``user`` may see and the notes and events
            their role may read there. Screenings and rights information go
            with the case: the whole case team sees them.
    """
    opener = _Opener(person)
    all_cases = list(
        Case.objects.filter(person=person)
        .select_related("lead_organisation")
        .order_by("opened_at")
    )
    included: list[tuple[Case, list[str]]] = []
    for case in all_cases:
        if full:
            included.append((case, list(Visibility.values)))
            continue
        access = case_access(user, case)
        if access is not None:
            included.append((case, access.visible_levels()))
    case_ids = [c.pk for c, _levels in included]
    author_ids = set(
        CaseNote.objects.filter(case_id__in=case_ids)
        .exclude(author_id=None)
        .values_list("author_id", flat=True)
    ) | set(
        CaseEvent.objects.filter(case_id__in=case_ids)
        .exclude(actor_id=None)
        .values_list("actor_id", flat=True)
    )
    screenings = Screening.objects.filter(case_id__in=case_ids)
    author_ids |= set(
        screenings.exclude(assessor_id=None).values_list("assessor_id", flat=True)
    ) | set(
        RightsInformation.objects.filter(case_id__in=case_ids)
        .exclude(informed_by_id=None)
        .values_list("informed_by_id", flat=True)
    )
    consents = (
        Consent.objects.filter(person=person)
        .select_related("case", "recipient_organisation")
        .order_by("given_at")
    )
    if not full:
        consents = consents.filter(case_id__in=case_ids)
    consent_list = list(consents)
    requests = ErasureRequest.objects.filter(person=person).order_by("requested_at")
    if not full:
        requests = requests.filter(case_id__in=case_ids)
    request_list = list(requests)
    note_ids = CaseNote.objects.filter(case_id__in=case_ids).values_list(
        "pk", flat=True
    )
    targets = (
        Q(target_type=Case._meta.label_lower, target_id__in=[str(i) for i in case_ids])
        | Q(
            target_type=CaseNote._meta.label_lower,
            target_id__in=[str(i) for i in note_ids],
        )
        | Q(
            target_type=Screening._meta.label_lower,
            target_id__in=[str(i) for i in screenings.values_list("pk", flat=True)],
        )
        | Q(
            target_type=Consent._meta.label_lower,
            target_id__in=[str(c.pk) for c in consent_list],
        )
        | Q(
            target_type=ErasureRequest._meta.label_lower,
            target_id__in=[str(r.pk) for r in request_list],
        )
        | Q(target_type=Person._meta.label_lower, target_id=str(person.pk))
    )
    actor_ids = {
        a
        for a in AuditEntry.objects.filter(targets).values_list("actor_id", flat=True)
        if a is not None
    }
    org_names = _organisation_names(author_ids | set(actor_ids) | {user.pk})
    roles = sorted(user.role_codes())
    return {
        "schema": SCHEMA,
        "exported_at": timezone.now(),
        "language": translation.get_language(),
        "node": {"id": settings.TRM_NODE_ID, "country": settings.TRM_COUNTRY},
        "scope": {
            "code": "all" if full else "case_team",
            "label": (
                _(
                    "Everything this node holds about the person "
                    "(data-protection officer's export)."
                )
                if full
                else _(
                    "What the exporting case manager may see: their cases of the "
                    "person, the notes their role may read, and the related "
                    "consents and audit entries."
                )
            ),
        },
        "exported_by": {
            "organisation": org_names.get(user.pk, ""),
            "roles": [_choice(Role, r) for r in roles],
        },
        "person": _person_section(opener, person),
        "cases": [
            _case_section(opener, case, levels, org_names) for case, levels in included
        ],
        "consents": [_consent_section(opener, c) for c in consent_list],
        "assistance": _assistance_records(
            person, {case.number for case, _levels in included}
        ),
        "erasure_requests": [
            {
                "reason": _choice(ErasureReason, r.reason),
                "note": r.note,
                "status": _choice(ErasureRequest.Status, r.status),
                "requested_at": r.requested_at,
                "confirmed_at": r.confirmed_at,
                "cancelled_at": r.cancelled_at,
            }
            for r in request_list
        ],
        "audit": _audit_section(targets, org_names),
    }


# --- assistance records (trm.assessments, trm.referrals, trm.care) ------------------


def _assistance_records(
    person: Person, case_numbers: set[str]
) -> dict[str, list[dict[str, object]]]:
    """Return what the SOP 2/3 apps hold about the person in the included cases:
    needs and risk assessments and support-plan versions, referrals, and care
    plans, residence records and services given (each app's ``export_for_person``
    opens the sealed text; staff appear as their organisation)."""
    from trm.assessments.export import export_for_person as assessments
    from trm.care.export import export_for_person as care
    from trm.referrals.export import export_for_person as referrals

    return {
        "assessments": [
            r for r in assessments(person) if r.get("case_number") in case_numbers
        ],
        "referrals": [
            r for r in referrals(person) if r.get("case_number") in case_numbers
        ],
        "care": [r for r in care(person) if r.get("case") in case_numbers],
    }


def _plain(value: object) -> str:
    """Return ``value`` of an assistance record as one line of text."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        if "label" in value and set(value) <= {"code", "label"}:
            return str(value["label"])
        return "; ".join(
            f"{_key_label(k)}: {_plain(v)}" for k, v in value.items() if k != "code"
        )
    if isinstance(value, list | tuple):
        return " | ".join(_plain(v) for v in value)
    return str(value)


def _key_label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def record_rows(record: dict[str, object]) -> list[tuple[str, str]]:
    """Return an assistance record as (field, text) rows for the HTML and PDF."""
    return [(_key_label(k), _plain(v)) for k, v in record.items()]


# --- rendering ------------------------------------------------------------------------


def filename(export: SubjectAccessExport, extension: str) -> str:
    """Return the download file name: the case number, never personal data."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", export.case_number).strip("._") or "case"
    return f"subject-access-{safe}.{extension}"


def render_json(export: SubjectAccessExport) -> bytes:
    """Return the export as UTF-8 JSON (complete: photo and evidence as base64)."""
    return json.dumps(
        export.data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
    ).encode()


def _fonts(font_dir: Path) -> dict[str, str] | None:
    paths = {k: font_dir / name for k, name in _FONT_FILES.items()}
    if all(p.is_file() for p in paths.values()):
        return {k: str(p) for k, p in paths.items()}
    return None


def render_html(
    export: SubjectAccessExport, *, pdf: bool = False, font_dir: Path = FONT_DIR
) -> str:
    """Return the export as a printable HTML page in the export's language."""
    with translation.override(export.language):
        return render_to_string(
            "dataprotection/export.html",
            {
                "x": export.data,
                "assistance_rows": {
                    section: [record_rows(r) for r in rows]
                    for section, rows in export.data.get("assistance", {}).items()
                },
                "pdf": pdf,
                "fonts": _fonts(font_dir) if pdf else None,
                "node_name": settings.TRM_NODE_NAME,
            },
        )


def render_pdf(export: SubjectAccessExport, *, font_dir: Path = FONT_DIR) -> bytes:
    """Return the export as a PDF (xhtml2pdf), with DejaVu Sans when installed.

    The renderer may read local files only in ``font_dir`` and fetches nothing
    over the network (an address written in a note stays text).
    """
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    policy = ResourceAccessPolicy.server(base_dir=font_dir, allow_remote=False)
    html = render_html(export, pdf=True, font_dir=font_dir)
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if result.err:
        raise RuntimeError("the PDF could not be rendered")
    return out.getvalue()
