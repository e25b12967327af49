"""The words SOP definitions may use: case events, conditions, guards, messages.

The YAML definitions (``trm/sop/definitions/``, read by :mod:`trm.sop.loader`)
name events, conditions and exchange messages by these codes; the loader
rejects any other code (file, line, field), so a typo in a national variant
cannot silently switch a step off. The deadline engine (:mod:`trm.sop.engine`)
reads events by these codes from a case's timeline
(:class:`trm.cases.models.CaseEvent`).

Event references in a definition take one of four forms:

``<kind>``
    A :class:`~trm.cases.models.CaseEvent` of that kind (a key of
    :data:`EVENTS`), e.g. ``sop1.screening_recorded``.
``<kind>=<code>``
    The same, with that outcome code, e.g. ``sop1.reflection_ended=expired``.
``track:<track>-><state>``
    A move of a case track into a state (``case.track_moved``), e.g.
    ``track:identification->presumed``. Tracks and states are those of
    :data:`trm.cases.tracks.TRACKS`.
``@reflection_start``
    Whatever event the variant's ``settings.reflection_period.starts_at``
    names (reasonable grounds → ``presumed``, formal identification →
    ``identified``).

Source: SOPS §2 (steps), §6.2 (tracks), §6.4 (messages), ARCHITECTURE §5.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: Case event kinds the SOP services write (and the engine reads). Kinds marked
#: in comments as planned are written by later capabilities; definitions may
#: already refer to them (the step simply stays pending until then).
EVENTS: dict[str, Promise] = {
    # Cases (trm.cases)
    "case.opened": _("Case opened"),
    "case.closed": _("Case closed"),
    "case.track_moved": _("Track changed"),
    "case.note_added": _("Note added"),
    "consent.recorded": _("Consent recorded"),
    "consent.withdrawn": _("Consent withdrawn"),
    # The transnational channel (trm.exchange through trm.cases, trm.consent,
    # trm.identification): SOPS §6.2 region F, §6.4
    "case.linked": _("Linked with a case abroad"),
    "person.identity_received": _("Identity details received from a counterpart"),
    "case.alert_sent": _("Counterpart node alerted"),
    "case.alert_received": _("Alert received from a counterpart node"),
    "case.alert_acknowledged": _("Counterpart node acknowledged the alert"),
    "case.safety_alert_sent": _("Urgent safety alert sent abroad"),
    "case.safety_alert_received": _("Urgent safety alert received from abroad"),
    "case.closure_received": _("The counterpart closed its case"),
    "exchange.message_sent": _("Message sent to a counterpart node"),
    "exchange.message_received": _("Message received from a counterpart node"),
    "consent.restricted": _(
        "Data received under a consent withdrawn abroad restricted or erased"
    ),
    "consent.withdrawal_confirmed": _("Counterpart confirmed a consent withdrawal"),
    # SOP 1 Identification (trm.screening, trm.identification)
    "sop1.screening_recorded": _("Screening recorded"),
    "sop1.no_indication_closed": _("Closed: no indication of trafficking"),
    "sop1.presumed": _("Recorded as presumed trafficked person"),
    "sop1.identification_reopened": _("Identification re-opened on new evidence"),
    "sop1.person_informed": _("Person informed of their rights"),
    "sop1.reflection_started": _("Reflection and recovery period started"),
    "sop1.reflection_ended": _("Reflection and recovery period ended"),
    "sop1.contact_recorded": _("Contact with the person recorded"),
    "sop1.risk_assessment_reviewed": _("Risk assessment reviewed"),
    "sop1.needs_assessed": _("Needs assessed"),
    "sop1.possible_child_recorded": _("Presumed a child until an age assessment"),
    "sop1.age_assessed": _("Age assessment recorded"),
    "sop1.asylum_application_recorded": _(
        "Application for international protection recorded"
    ),
    "sop1.guardian_appointed": _("Guardian appointed"),
    "sop1.child_protection_notified": _("Child-protection authority notified"),
    "sop1.identity_verification_requested": _("Identity verification requested"),
    "sop1.identity_verification_received": _(
        "Identity verification asked by a counterpart node"
    ),
    "sop1.identity_verification_answered": _(
        "Identity verification answered to a counterpart node"
    ),
    "sop1.identity_verification_result": _("Identity verification result received"),
    "sop1.enforced_removal_recorded": _("Enforced removal recorded"),
    # SOP 2 First assistance (trm.assessments, trm.referrals; the assistance
    # pathway itself is recorded as case.track_moved with a code)
    "sop2.support_plan_drafted": _("Support and safety plan drafted"),
    "sop2.support_plan_signed": _("Support and safety plan signed"),
    "sop2.referral_sent": _("Referral sent"),
    "sop2.referral_accepted": _("Referral accepted"),
    "sop2.referral_declined": _("Referral declined"),
    "sop2.referral_started": _("Referred services started"),
    "sop2.referral_completed": _("Referral completed"),
    "sop2.referral_cancelled": _("Referral cancelled"),
    "sop2.referral_revoked": _("Referral revoked (consent withdrawn)"),
    "sop2.referral_not_possible": _("Referral not possible"),
    "sop2.referral_feedback": _("Referral feedback received"),
    # SOP 3 Long-term assistance (trm.care)
    "sop3.care_plan_agreed": _("Individual care plan agreed"),
    "sop3.residence_permit_recorded": _("Residence status recorded"),
    "sop3.plan_reviewed": _("Care plan reviewed"),
    "sop3.service_recorded": _("Service given recorded"),
    # SOP 4 (planned: return issue)
    "sop4.return_consent_recorded": _("Voluntary return consent recorded"),
    "sop4.joint_risk_assessed": _("Joint pre-return risk assessment"),
    "sop4.receiver_confirmed": _("Receiving organisation confirmed"),
    "sop4.travel_documents_ready": _("Travel documents ready"),
    "sop4.best_interests_determined": _("Best-interests determination"),
    "sop4.follow_up_reported": _("Follow-up report received"),
    "sop4.reintegration_planned": _("Reintegration plan recorded"),
    "sop4.follow_up_recorded": _("Follow-up report recorded"),
    # SOP 5 Criminal and civil proceedings (trm.proceedings)
    "sop5.rights_informed": _("Informed of rights in proceedings"),
    "sop5.legal_aid_appointed": _("Lawyer appointed"),
    "sop5.protection_assessed": _("Risk assessed for a protection measure"),
    "sop5.protection_ordered": _("Protection measure ordered"),
    "sop5.protection_lifted": _("Protection measure lifted"),
    "sop5.compensation_claimed": _("Compensation claimed"),
    "sop5.compensation_decided": _("Decision on a compensation claim"),
    "sop5.compensation_settled": _("Compensation paid, or recorded as unpaid"),
    "sop5.charge_flagged": _(
        "Charge against the person flagged as linked to the trafficking"
    ),
    "sop5.non_punishment_requested": _("Non-punishment assessment requested"),
    "sop5.non_punishment_assessed": _("Non-punishment assessment"),
    "sop5.hearing_recorded": _("Hearing recorded"),
    "sop5.notice_sent": _("Proceedings notice sent to a counterpart node"),
    "sop5.notice_received": _("Proceedings notice received from a counterpart node"),
    "sop5.outcome_notified": _("Person told the outcome of proceedings"),
    # trm.handover (SOP 4 step 8, both nodes).
    "handover.announced": _("Journey and handover announced to the country of origin"),
    "handover.received": _("Journey and handover announced by the sending country"),
    "handover.arrival_recorded": _("Arrival in the country of origin recorded"),
    "handover.arrival_received": _("Arrival confirmation received"),
    "handover.lead_moved": _("The country of origin now leads the case"),
    "handover.arrival_overdue": _("Arrival not confirmed in time: safety alert"),
}

#: Event kinds no service writes yet (later capabilities will): a step that
#: only such events complete cannot be recorded in TRM yet, so the engine shows
#: it as "not recorded here yet" instead of letting it fall due and remind
#: people of something they cannot record. A test checks this list against the
#: code: remove a kind from it in the change that starts writing it.
PLANNED_EVENTS: frozenset[str] = frozenset(
    kind for kind in EVENTS if kind.split(".")[0] in {"sop4"}
) - {
    # Written by trm.returns (SOP 4 on the destination node).
    "sop4.best_interests_determined",
    "sop4.joint_risk_assessed",
    "sop4.receiver_confirmed",
    "sop4.travel_documents_ready",
    # Written by trm.reintegration (SOP 4 steps 9-10: the origin records the
    # plan and the follow-ups; the destination receives the reports).
    "sop4.reintegration_planned",
    "sop4.follow_up_recorded",
    "sop4.follow_up_reported",
}

#: Conditions a step's ``applies_when`` and ``guards`` may name. Prefix a name
#: with ``not `` to negate it. Each is computed from the case and person rows
#: (no personal data is decrypted): see :mod:`trm.sop.engine`.
CONDITIONS: dict[str, Promise] = {
    "presumed_child": _("the person is or may be a child"),
    "unaccompanied_child": _("the person is or may be an unaccompanied child"),
    "foreign_national": _("the person is not a national of this country"),
    "asylum_applicant": _("the person has applied for international protection"),
    "identification_pending": _(
        "the person is presumed trafficked and the formal decision is pending"
    ),
    "identified": _("the person is an identified trafficked person"),
    "reflection_running": _("the reflection and recovery period is running"),
    "case_open": _("the case is open"),
    "identified_abroad": _(
        "the person was identified in another country (the case was opened "
        "here from a counterpart node's message)"
    ),
    "in_proceedings": _("criminal or civil proceedings are under way"),
}

#: Why a step does not apply, shown on the SOP panel (keyed by the
#: ``applies_when`` condition that does not hold); other conditions get the
#: generic "Applies only when …".
NOT_APPLICABLE_EXPLANATIONS: dict[str, Promise] = {
    "not identified_abroad": _(
        "Not applicable: the person was identified in the country where they "
        "were found, which did this step; this country verifies their identity "
        "and receives them (TRM SOP 1 and SOP 4)."
    ),
}

#: Why a guard blocks a step, shown on the SOP panel (keyed by the condition
#: whose failure blocks it, ``not asylum_applicant`` being the usual one).
BLOCK_EXPLANATIONS: dict[str, Promise] = {
    "not asylum_applicant": _(
        "Blocked: the person has applied for international protection, so the "
        "authorities of their country of origin must not be contacted to verify "
        "their identity (SOPS §6.5 rule 6)."
    ),
    "not reflection_running": _(
        "Blocked while the reflection and recovery period runs (CETS Art. 13)."
    ),
    "not identification_pending": _(
        "Blocked until the formal identification decision (CETS Art. 10(2))."
    ),
}

#: Exchange messages of SOPS §6.4 a step may send.
MESSAGES: dict[str, Promise] = {
    "M1": _("Case alert / referral notice"),
    "M2": _("Identity and nationality verification"),
    "M3": _("Family, social and risk information"),
    "M4": _("Family tracing (child)"),
    "M5": _("Joint pre-return risk and needs assessment"),
    "M6": _("Return request / return plan"),
    "M7": _("Receiving organisation acceptance / decline"),
    "M8": _("Travel documents"),
    "M9": _("Travel and handover notice / arrival confirmation"),
    "M10": _("Reintegration follow-up report"),
    "M11": _("Case closure / ownership transfer"),
    "M12": _("Proceedings-related notice"),
    "M13": _("Consent withdrawal / restriction"),
    "M14": _("Urgent safety alert"),
    "M15": _("Service referral to a third country"),
}

#: What may start the reflection and recovery period (variant setting).
REFLECTION_STARTS: dict[str, str] = {
    "reasonable_grounds": "track:identification->presumed",
    "formal_identification": "track:identification->identified",
}

#: The legal minimum length of the reflection and recovery period, in days
#: (CETS 197 Art. 13(1)); a variant with less is rejected.
REFLECTION_MIN_DAYS = 30

#: Why a reflection and recovery period ends (SOPS §6.1 ReflectionPeriod; CETS 13(3)).
REFLECTION_END_REASONS: dict[str, Promise] = {
    "expired": _("The period expired"),
    "decided_to_cooperate": _("The person decided to cooperate with the authorities"),
    "decided_not_to_cooperate": _("The person decided not to cooperate"),
    "public_order": _("Ended early for reasons of public order (CETS Art. 13(3))"),
    "improper_claim": _(
        "Ended early: victim status was claimed improperly (CETS Art. 13(3))"
    ),
}
#: End reasons that end the period before it expires and need a written reason.
REFLECTION_EARLY_END_REASONS = frozenset({"public_order", "improper_claim"})
