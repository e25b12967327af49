"""Refusals of trm.assessments with stable codes; messages hold no personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class AssessmentInvalidInput(DomainError):
    """A field is missing, unknown or malformed (``details["field"]``)."""

    code = "assessments.invalid_input"


class ParticipationRequired(DomainError):
    """No needs interview without the person's willing participation (BG 1.3)."""

    code = "assessments.participation_required"


class AssistanceContentHidden(PermissionDenied):
    """Needs, risks and the plan are assistance material: the legal track does
    not see them (SOPS §3 confidentiality; unconditional assistance)."""

    code = "assessments.assistance_only"


class PlanVersionNotFound(NotFound):
    code = "assessments.plan_version_not_found"


class NoDraftToSign(Conflict):
    code = "assessments.no_draft"


class PlanVersionChanged(Conflict):
    """The draft to sign is not the version the signer saw."""

    code = "assessments.plan_version_changed"


class PlanIncomplete(Conflict):
    """Rule 9: a plan is signed only with every required field
    (``details["missing"]``: the field codes)."""

    code = "assessments.plan_incomplete"
