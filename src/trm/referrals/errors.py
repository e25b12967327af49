"""Referral refusals with stable codes. Messages never contain personal data.

Refusals shared with other apps keep their own classes and codes: bad input is
:class:`trm.cases.errors.CaseInvalidInput`, a role the case does not give is
:class:`~trm.cases.errors.CaseRoleRequired`, a move the state machine does not
allow is :class:`~trm.cases.errors.TransitionNotAllowed`, an erased person is
:class:`~trm.cases.errors.PersonErased`, and a missing consent is
:class:`trm.consent.errors.ConsentMissing` with its ``details``.
"""

from __future__ import annotations

from trm.common.errors import Conflict, NotFound, PermissionDenied


class ReferralNotFound(NotFound):
    """No such referral, or the actor may not know it exists (same answer: 404)."""

    code = "referrals.not_found"


class NotAcceptingReferrals(Conflict):
    """The receiving organisation is deactivated, has no directory profile, or
    does not accept referrals now; ``details["reason"]`` says which."""

    code = "referrals.not_accepting"


class CapacityWarning(Conflict):
    """The receiver reports no free place: sending needs an explicit
    acknowledgement (``capacity_warning_accepted``)."""

    code = "referrals.capacity_warning"


class GuardianConsentRequired(PermissionDenied):
    """A child's referral needs a consent the guardian took part in (SOPS §6.2
    region E: no decision limiting rights without the guardian)."""

    code = "referrals.guardian_consent_required"


class RemoteNotSetUp(Conflict):
    """The receiver belongs to a peer node and this node's exchange is not set up."""

    code = "referrals.remote_not_set_up"


class NotReceiver(PermissionDenied):
    """Only the receiving organisation's service providers and case managers act
    on a referral it received."""

    code = "referrals.not_receiver"


class ExchangeMismatch(Conflict):
    """A message of a peer node about a referral does not fit this node's
    record of it: another conversation, or a referral key already used by
    another node's referral (``details["reason"]``)."""

    code = "referrals.exchange_mismatch"
