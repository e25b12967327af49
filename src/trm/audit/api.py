"""API: verify the audit chain."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from trm.accounts.models import User
from trm.audit import selectors, services

router = Router(tags=["audit"])


class VerifyOut(Schema):
    ok: bool
    checked: int
    bad_seq: int | None
    reason: str


@router.post("/verify", response=VerifyOut, summary="Recompute the audit hash chain")
def verify(request: HttpRequest) -> VerifyOut:
    actor = request.auth  # type: ignore[attr-defined]
    assert isinstance(actor, User)  # noqa: S101
    selectors.require_audit_reader(actor)
    result = services.verify()
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        bad_seq=result.bad_seq,
        reason=result.reason,
    )
