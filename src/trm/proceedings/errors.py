"""Refusals of trm.proceedings with stable codes. Messages hold no personal data."""

from __future__ import annotations

from trm.common.errors import NotFound, PermissionDenied


class ProceedingsNotForRole(PermissionDenied):
    """The user's roles on the case do not read the proceedings records: they
    are legal-track content, for the prosecutor, the case manager and the
    competent authority (need to know, ARCHITECTURE §4; GDPR Art. 10 for
    criminal-offence data)."""

    code = "proceedings.not_for_role"


class ProceedingsRecordNotFound(NotFound):
    """No such protection measure, compensation claim or charge on this case."""

    code = "proceedings.not_found"
