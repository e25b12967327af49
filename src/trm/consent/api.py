"""API endpoints for consent: list, read, record and withdraw.

The same selectors and services as the web pages. ``consent.require`` is an
internal check that services call before sharing data; it has no endpoint.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import AwareDatetime, ConfigDict, Field

from trm.cases import selectors as case_selectors
from trm.common.api import request_actor
from trm.consent import selectors, services
from trm.consent.errors import ConsentInvalidInput
from trm.consent.models import Consent

router = Router(tags=["consent"])

#: Base64 grows the scan by a third; the request body limit
#: (DATA_UPLOAD_MAX_MEMORY_SIZE) applies first and answers 413.
MAX_EVIDENCE_BASE64 = (services.MAX_EVIDENCE_BYTES * 4) // 3 + 4


class EvidenceIn(Schema):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(description="application/pdf, image/png or image/jpeg")
    data: str = Field(max_length=MAX_EVIDENCE_BASE64, description="Base64 content")


class ConsentRecordIn(Schema):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(description="Purpose code")
    categories: list[str] = Field(max_length=20, description="DataCategory codes")
    given_by: str = Field(description="person, guardian or both")
    language: str = Field(max_length=3, description="ISO 639 code")
    recipient_organisation_id: UUID | None = None
    recipient_country: str = Field("", max_length=2, description="ISO 3166-1")
    interpreter_used: bool = False
    declaration: str = Field(
        "", max_length=5000, description="The person's declaration, typed."
    )
    evidence: EvidenceIn | None = Field(
        None, description="Optional scan of the signed form."
    )
    # With a time zone: a naive time cannot be compared with "now".
    given_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None


class ConsentOut(Schema):
    id: UUID
    case_id: UUID | None
    purpose: str
    recipient_organisation_id: UUID | None
    recipient_organisation: str | None
    recipient_country: str
    categories: list[str]
    given_by: str
    language: str
    interpreter_used: bool
    given_at: datetime
    expires_at: datetime | None
    recorded_at: datetime
    withdrawn_at: datetime | None
    state: str = Field(description="valid, expired or withdrawn")
    has_declaration: bool
    has_evidence: bool
    evidence_content_type: str


class ConsentDetailOut(ConsentOut):
    declaration: str | None = Field(description="None once the person was erased.")


class EvidenceOut(Schema):
    content_type: str
    data: str = Field(description="Base64 content")


def _fields(consent: Consent, state: str) -> dict[str, Any]:
    organisation = consent.recipient_organisation
    return {
        "id": consent.pk,
        "case_id": consent.case_id,
        "purpose": consent.purpose,
        "recipient_organisation_id": consent.recipient_organisation_id,
        "recipient_organisation": organisation.name if organisation else None,
        "recipient_country": consent.recipient_country.code or "",
        "categories": list(consent.categories),
        "given_by": consent.given_by,
        "language": consent.language,
        "interpreter_used": consent.interpreter_used,
        "given_at": consent.given_at,
        "expires_at": consent.expires_at,
        "recorded_at": consent.recorded_at,
        "withdrawn_at": consent.withdrawn_at,
        "state": state,
        "has_declaration": bool(consent.sealed_declaration),
        "has_evidence": bool(consent.sealed_evidence),
        "evidence_content_type": consent.evidence_content_type,
    }


def _out(consent: Consent) -> ConsentOut:
    return ConsentOut(**_fields(consent, selectors.consent_state(consent)))


@router.get(
    "/cases/{case_id}",
    response=list[ConsentOut],
    summary="Consents recorded on a case",
)
def consent_list(request: HttpRequest, case_id: UUID) -> list[ConsentOut]:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    return [
        ConsentOut(**_fields(row.consent, row.state))
        for row in selectors.consent_list_for_case(user=user, case=case)
    ]


@router.post(
    "/cases/{case_id}",
    response={201: ConsentOut},
    summary="Record a consent given on a case",
)
def consent_record(
    request: HttpRequest, case_id: UUID, payload: ConsentRecordIn
) -> Status[ConsentOut]:
    evidence: bytes | None = None
    content_type = ""
    if payload.evidence is not None:
        try:
            evidence = base64.b64decode(payload.evidence.data, validate=True)
        except (binascii.Error, ValueError):
            raise ConsentInvalidInput(
                _("The evidence is not valid base64."), details={"field": "evidence"}
            ) from None
        content_type = payload.evidence.content_type
    consent = services.consent_record(
        actor=request_actor(request),
        case_id=case_id,
        purpose=payload.purpose,
        categories=payload.categories,
        given_by=payload.given_by,
        language=payload.language,
        recipient_organisation_id=payload.recipient_organisation_id,
        recipient_country=payload.recipient_country,
        interpreter_used=payload.interpreter_used,
        declaration=payload.declaration,
        evidence=evidence,
        evidence_content_type=content_type,
        given_at=payload.given_at,
        expires_at=payload.expires_at,
    )
    return Status(201, _out(consent))


@router.get(
    "/{consent_id}",
    response=ConsentDetailOut,
    summary="One consent with its declaration (an audited read)",
)
def consent_detail(request: HttpRequest, consent_id: UUID) -> ConsentDetailOut:
    detail = selectors.consent_get_for_user(
        user=request_actor(request), consent_id=consent_id
    )
    return ConsentDetailOut(
        **_fields(detail.consent, detail.state), declaration=detail.declaration
    )


@router.get(
    "/{consent_id}/evidence",
    response=EvidenceOut,
    summary="The evidence scan, base64 (an audited read)",
)
def consent_evidence(request: HttpRequest, consent_id: UUID) -> EvidenceOut:
    evidence = selectors.consent_evidence_for_user(
        user=request_actor(request), consent_id=consent_id
    )
    return EvidenceOut(
        content_type=evidence.content_type,
        data=base64.b64encode(evidence.content).decode("ascii"),
    )


@router.post(
    "/{consent_id}/withdraw", response=ConsentOut, summary="Withdraw a consent now"
)
def consent_withdraw(request: HttpRequest, consent_id: UUID) -> ConsentOut:
    consent = services.consent_withdraw(
        actor=request_actor(request), consent_id=consent_id
    )
    return _out(consent)
