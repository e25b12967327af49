"""SOP 1 refusals with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, PermissionDenied


class NotCompetentAuthority(PermissionDenied):
    """Only the competent authority of the body the variant names decides (rule 10)."""

    code = "identification.not_competent_authority"


class RemovalBlocked(Conflict):
    """No enforced removal while identification is pending or the reflection
    period runs (CETS 197 Art. 10(2), 13(1); SOPS §6.5 rule 2)."""

    code = "identification.removal_blocked"


class ConsularCheckBlocked(Conflict):
    """No identity check through the origin country for an asylum applicant
    (SOPS §2 SOP 1 step 2 [BG]; §6.5 rule 6)."""

    code = "identification.consular_check_blocked"


class VerificationRoleRequired(PermissionDenied):
    """Only national contact points and competent authorities list the identity
    checks counterpart nodes asked (SOPS §6.4 M2)."""

    code = "identification.verification_role_required"
