"""Pages of SOP 1 Identification: one form per action, and the case page's box.

Every page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404) and writes only through
:mod:`trm.identification.services`. A page the user's roles on the case do not
allow answers 403; an action the case's state does not allow now answers with
the reason (409). A refusal of the service re-displays the form with the
message next to the field it names and keeps what was typed.

:func:`case_page_context` builds what the case page shows of SOP 1 and of the
SOP panel: the removal block, the panel, the actions this user may take now
and the reflection and recovery period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_stubs_ext import StrOrPromise

from trm.accounts.models import Role, User
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseRoleRequired, TransitionNotAllowed
from trm.cases.models import Case
from trm.cases.tracks import (
    Assistance,
    ChildProtection,
    Identification,
    Reflection,
)
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.consent.errors import ConsentMissing
from trm.consent.models import DataCategory, Purpose
from trm.consent.selectors import VALID, consent_list_for_case
from trm.exchange.errors import LegalBasisMissing, PeerUnavailable
from trm.identification import children, contacts, reflection, services, verification
from trm.identification import forms as id_forms
from trm.identification import messages as verify
from trm.identification.errors import NotCompetentAuthority
from trm.identification.models import RightsContext
from trm.screening.selectors import suggests_referral
from trm.sop import engine
from trm.sop import views as sop_views
from trm.sop.types import Definition
from trm.sop.vocabulary import REFLECTION_EARLY_END_REASONS, REFLECTION_END_REASONS

ALL_CASE_ROLES = frozenset(Role.values)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


# --- who may do what, and when ------------------------------------------------------


#: Assistance states once the person has returned and been handed over
#: (SOP 4): at the destination ``handed_over`` and ``follow_up``, at the
#: origin ``reintegration`` (reached only through the arrival confirmation).
#: A removal from a country the person has left is not offered.
RETURNED_STATES = frozenset(
    {Assistance.HANDED_OVER, Assistance.FOLLOW_UP, Assistance.REINTEGRATION}
)


@dataclass(frozen=True)
class Rule:
    """Who may take one action, and in which case states.

    Attributes:
        label: the action, as the case page and the form's heading name it.
        roles: roles on the case that may take it (the service's own set).
        when: the case states in which it is possible (None: always).
        not_now: why it is not possible in another state.
    """

    label: StrOrPromise
    roles: frozenset[str]
    when: Callable[[Case], bool] | None = None
    not_now: StrOrPromise = ""


RULES: dict[str, Rule] = {
    "presume": Rule(
        gettext_lazy("Record as presumed trafficked person"),
        services.PRESUMING_ROLES,
        lambda c: (
            c.identification
            in {Identification.SIGNAL_RECEIVED, Identification.SCREENING}
        ),
        gettext_lazy("Only a case at signal or screening can be recorded as presumed."),
    ),
    "decide": Rule(
        gettext_lazy("Decide identification"),
        frozenset({Role.COMPETENT_AUTHORITY}),
        lambda c: c.identification == Identification.PRESUMED,
        gettext_lazy(
            "The formal decision is taken once the person is recorded as presumed "
            "trafficked, and only once."
        ),
    ),
    "reopen": Rule(
        gettext_lazy("Re-open identification on new evidence"),
        frozenset({Role.COMPETENT_AUTHORITY}),
        lambda c: c.identification == Identification.NOT_IDENTIFIED,
        gettext_lazy("Only a case decided as not identified can be re-opened."),
    ),
    "no_indication": Rule(
        gettext_lazy("Close identification: no indication of trafficking"),
        services.PRESUMING_ROLES,
        lambda c: (
            c.identification == Identification.SCREENING and not suggests_referral(c)
        ),
        gettext_lazy(
            "Only a case at screening whose latest screening does not suggest "
            "referral can be closed as no indication."
        ),
    ),
    # Any role but the legal track's, and not through policy (see may()).
    "rights": Rule(
        gettext_lazy("Record that the person was told their rights"),
        ALL_CASE_ROLES,
    ),
    "reflection_end": Rule(
        gettext_lazy("End the reflection period"),
        reflection.EARLY_END_ROLES | reflection.DECISION_RECORDING_ROLES,
        lambda c: c.reflection == Reflection.REFLECTION_PERIOD,
        gettext_lazy("No reflection and recovery period is running."),
    ),
    "possible_child": Rule(
        gettext_lazy("Mark as possibly a child"),
        children.CHILD_ROLES,
        lambda c: not c.person.presumed_child,
        gettext_lazy("The person is already presumed a child."),
    ),
    "age_assessment": Rule(
        gettext_lazy("Record age assessment"),
        children.CHILD_ROLES,
    ),
    "guardian": Rule(
        gettext_lazy("Appoint guardian"),
        children.CHILD_ROLES,
        lambda c: c.child_protection == ChildProtection.GUARDIAN_REQUESTED,
        gettext_lazy("No guardian is requested for this case."),
    ),
    "child_protection_notice": Rule(
        gettext_lazy("Notify child-protection authority"),
        children.CHILD_ROLES,
        lambda c: bool(c.person.presumed_child),
        gettext_lazy("The person is not presumed a child."),
    ),
    "identity_verification": Rule(
        gettext_lazy("Request identity verification"),
        contacts.VERIFICATION_ROLES,
    ),
    "identity_verification_answer": Rule(
        gettext_lazy("Answer the counterpart's identity check"),
        contacts.VERIFICATION_ROLES,
        lambda c: verify.pending_request(c) is not None,
        gettext_lazy("No identity check from a counterpart node awaits an answer."),
    ),
    "asylum": Rule(
        gettext_lazy("Record an application for international protection"),
        contacts.ASYLUM_ROLES,
        lambda c: not c.person.asylum_applicant,
        gettext_lazy("The application for international protection is recorded."),
    ),
    "contact": Rule(gettext_lazy("Record contact"), contacts.CONTACT_ROLES),
    "enforced_removal": Rule(
        gettext_lazy("Record enforced removal"),
        reflection.REMOVAL_ROLES,
        lambda c: c.assistance not in RETURNED_STATES,
        gettext_lazy(
            "The person has returned to the country of origin and been handed "
            "over: there is no one to remove."
        ),
    ),
}


def may(name: str, *, user: User, access: CaseAccess, definition: Definition) -> bool:
    """Return True if the user's roles on the case allow action ``name``.

    Access through node policy (not on the team) reads but never acts.
    """
    if access.via_policy:
        return False
    if name in {"decide", "reopen"}:
        return services.may_decide(user, access, definition)
    if name == "rights":
        return not (access.legal_only or access.via_policy)
    return bool(access.roles & RULES[name].roles)


def possible_now(name: str, case: Case) -> bool:
    """Return True if the case's state allows action ``name`` now."""
    rule = RULES[name]
    return not case.is_closed and (rule.when is None or rule.when(case))


def _roles_text(roles: frozenset[str]) -> str:
    return ", ".join(str(Role(r).label) for r in sorted(roles))


def check(
    name: str, *, user: User, case: Case, access: CaseAccess, definition: Definition
) -> None:
    """Refuse a page the user may not use (403) or the case does not allow (409)."""
    if not may(name, user=user, access=access, definition=definition):
        if name == "decide":
            raise NotCompetentAuthority(
                _(
                    "Only the competent authority named by this node's procedure, "
                    "on the case team, decides formal identification."
                )
            )
        if name == "rights":
            raise CaseRoleRequired(_("Your role on this case does not allow this."))
        if access.via_policy and access.roles & RULES[name].roles:
            raise CaseRoleRequired(
                _(
                    "You see this case through node policy, not as a member of "
                    "its team: add yourself to the case team to act on it."
                )
            )
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": _roles_text(RULES[name].roles)}
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    if not possible_now(name, case):
        raise TransitionNotAllowed(str(RULES[name].not_now))


# --- the case page ------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """An action on the case page: a link, or why it cannot be taken now."""

    name: str
    label: str
    url: str
    enabled: bool = True
    explanation: str = ""


def identification_actions(
    *,
    user: User,
    case: Case,
    access: CaseAccess,
    definition: Definition,
    block: reflection.RemovalBlock | None,
) -> list[Action]:
    """Return the SOP 1 actions the user may take now, in the order of the SOP."""
    if case.is_closed:
        return []
    person = case.person
    actions = []
    for name, rule in RULES.items():
        if not may(name, user=user, access=access, definition=definition):
            continue
        if not possible_now(name, case):
            continue
        if name == "age_assessment" and not (
            person.presumed_child or person.age_uncertain
        ):
            continue
        url = reverse(f"identification:{name}", args=[case.pk])
        explanation = ""
        enabled = True
        if name == "identity_verification" and engine.is_asylum_applicant(case):
            explanation = _(
                "The person has applied for international protection: the "
                "country of origin must not be contacted. Only domestic "
                "registers can be used."
            )
        if name == "enforced_removal" and block is not None:
            enabled = False
            explanation = " ".join(block.reasons)
        actions.append(Action(name, str(rule.label), url, enabled, explanation))
    return actions


def case_page_context(
    *, user: User, case: Case, access: CaseAccess, today: date | None = None
) -> dict[str, Any]:
    """Return what the case page shows of the SOPs and of SOP 1.

    Keys: ``sop_panel`` (:class:`trm.sop.views.Panel`, with the removal block
    and the reflection period), ``identification_actions`` and
    ``identity_checks`` (:class:`trm.identification.verification.CaseChecks`:
    the checks through the exchange sent and received, with their answers).
    """
    today = today or timezone.localdate()
    definition = sop_views.definition()
    panel = sop_views.panel_for_case(case, access=access, today=today)
    return {
        "sop_panel": panel,
        "identity_checks": verification.case_checks(user=user, case=case),
        "identification_actions": identification_actions(
            user=user,
            case=case,
            access=access,
            definition=definition,
            block=panel.removal_block,
        ),
    }


# --- the forms ----------------------------------------------------------------------


@dataclass
class Page:
    """What one action page shows besides its form."""

    intro: list[str]
    warnings: list[str]
    submit: str
    success: str
    show_form: bool = True


@dataclass(frozen=True)
class Ctx:
    """The request's user, the case, the user's access and the SOP variant."""

    user: User
    case: Case
    access: CaseAccess
    definition: Definition


def _action_page(
    request: HttpRequest,
    case_id: UUID,
    name: str,
    *,
    build_form: Callable[[Any, Ctx], forms.Form],
    perform: Callable[[Ctx, dict[str, Any]], object],
    page: Callable[[Ctx], Page],
    errors_at: dict[type[DomainError], str] | None = None,
    success: Callable[[dict[str, Any]], str] | None = None,
) -> HttpResponse:
    """Show an action's form; on a valid POST call its service and go back.

    ``errors_at`` names the field a refusal of a given class lands on (even
    one that would otherwise answer 403, such as a missing consent);
    ``success`` words the confirmation from what was submitted.
    """
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    definition = sop_views.definition()
    check(name, user=user, case=case, access=access, definition=definition)
    ctx = Ctx(user, case, access, definition)
    posted = request.method == "POST"
    form = build_form(request.POST if posted else None, ctx)
    shown = page(ctx)
    if posted and form.is_valid():
        try:
            perform(ctx, form.cleaned_data)
        except DomainError as exc:
            at = next(
                (f for kind, f in (errors_at or {}).items() if isinstance(exc, kind)),
                None,
            )
            if at is not None:
                form.add_error(at if at in form.fields else None, exc.message)
            elif isinstance(exc, NotFound | PermissionDenied):
                raise
            else:
                add_domain_error(form, exc)
        else:
            messages.success(
                request, success(form.cleaned_data) if success else shown.success
            )
            return HttpResponseRedirect(
                reverse("cases:detail", args=[case.pk]) + "#identification"
            )
    return render(
        request,
        "identification/action.html",
        {
            "case": case,
            "title": str(RULES[name].label),
            "form": form,
            "page": shown,
        },
        status=400 if posted else 200,
    )


def _page(
    intro: list[str] | None = None,
    *,
    submit: str,
    success: str,
    warnings: list[str] | None = None,
    show_form: bool = True,
) -> Page:
    return Page(intro or [], warnings or [], submit, success, show_form)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def presume_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record the person as a presumed trafficked person (reasonable grounds)."""

    def page(c: Ctx) -> Page:
        intro = [
            _(
                "Record this when there are reasonable grounds to believe the "
                "person was trafficked. Help does not wait for a formal decision: "
                "from now on the person may not be removed from the country until "
                "the competent authority decides."
            )
        ]
        if suggests_referral(c.case):
            intro.append(
                _(
                    "The latest screening of this case suggests referral, so the "
                    "reasons are optional."
                )
            )
        else:
            intro.append(
                _(
                    "No screening of this case suggests referral yet: give the "
                    "reasons for your professional judgement."
                )
            )
        return _page(
            intro,
            submit=_("Record as presumed"),
            success=_("The person is recorded as a presumed trafficked person."),
        )

    return _action_page(
        request,
        case_id,
        "presume",
        build_form=lambda data, c: id_forms.PresumeForm(data),
        perform=lambda c, data: services.presume(
            actor=c.user, case_id=c.case.pk, reason=data["reason"]
        ),
        page=page,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def decide_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record the formal identification decision (competent authority only)."""

    def page(c: Ctx) -> Page:
        return _page(
            [
                _(
                    "Only the competent authority decides. Tell the person the "
                    "decision and its reasons in a language they understand, and "
                    "their rights; tick below what you explained."
                ),
                _(
                    "If the person is not identified, tell them how to ask for a "
                    "review and where else they can get help."
                ),
            ],
            submit=_("Record the decision"),
            success=_("The identification decision is recorded."),
        )

    return _action_page(
        request,
        case_id,
        "decide",
        build_form=lambda data, c: id_forms.DecisionForm(
            data, languages=c.case.person.languages
        ),
        perform=lambda c, data: services.decide(
            actor=c.user,
            case_id=c.case.pk,
            outcome=data["outcome"],
            reasons=data["reasons"],
            informed=data["informed"],
            language=data["language"],
            interpreter=data["interpreter"],
        ),
        page=page,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def reopen_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Re-open a "not identified" case on new evidence."""
    return _action_page(
        request,
        case_id,
        "reopen",
        build_form=lambda data, c: id_forms.ReopenForm(data),
        perform=lambda c, data: services.reopen(
            actor=c.user, case_id=c.case.pk, reason=data["reason"]
        ),
        page=lambda c: _page(
            [
                _(
                    "The person is again a presumed trafficked person until a new "
                    "decision: they may not be removed from the country meanwhile."
                )
            ],
            submit=_("Re-open identification"),
            success=_("Identification is re-opened."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def no_indication_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that screening found no indication of trafficking."""
    return _action_page(
        request,
        case_id,
        "no_indication",
        build_form=lambda data, c: id_forms.NoIndicationForm(data),
        perform=lambda c, data: services.close_no_indication(
            actor=c.user,
            case_id=c.case.pk,
            information_given=data["information_given"],
            note=data["note"],
        ),
        page=lambda c: _page(
            [
                _(
                    "Before you close identification, offer the person information "
                    "and other services they can turn to. A new screening can "
                    "re-open it at any time."
                )
            ],
            submit=_("Close identification"),
            success=_("Identification is closed: no indication of trafficking."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def rights_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that the person was told their rights (e.g. the reflection period)."""

    def page(c: Ctx) -> Page:
        days = c.definition.setting("reflection_period.days")
        return _page(
            [
                _(
                    "Tell the person, in a language they understand, that they "
                    "have a reflection and recovery period of %(days)s days: to "
                    "recover and decide freely whether to cooperate with the "
                    "authorities. They will not be removed from the country while "
                    "it runs, and help does not depend on their decision."
                )
                % {"days": days}
            ],
            submit=_("Record"),
            success=_("Recorded: the person was told their rights."),
        )

    return _action_page(
        request,
        case_id,
        "rights",
        build_form=lambda data, c: id_forms.RightsForm(
            data, languages=c.case.person.languages
        ),
        perform=lambda c, data: services.rights_inform(
            actor=c.user,
            case_id=c.case.pk,
            context=data["context"] or RightsContext.REFLECTION_PERIOD,
            informed=data["informed"],
            language=data["language"],
            interpreter=data["interpreter"],
        ),
        page=page,
    )


def _end_reasons(
    access: CaseAccess, case: Case, definition: Definition, today: date
) -> list[str]:
    """Return the end reasons this user may record now."""
    reasons = []
    if access.roles & reflection.DECISION_RECORDING_ROLES:
        reasons += ["decided_to_cooperate", "decided_not_to_cooperate"]
    if access.roles & reflection.EARLY_END_ROLES:
        reasons += sorted(REFLECTION_EARLY_END_REASONS)
    events = engine.events_for_cases([case.pk]).get(case.pk, [])
    window = engine.reflection_window(case, events, definition)
    if window is not None and today > window.ends_on:
        reasons.insert(0, "expired")
    return [r for r in REFLECTION_END_REASONS if r in reasons]


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def reflection_end_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """End the reflection and recovery period, with its reason."""
    today = timezone.localdate()

    def page(c: Ctx) -> Page:
        return _page(
            [
                _(
                    "The period ends when it expires, when the person decides "
                    "whether to cooperate with the authorities, or early for "
                    "reasons of public order or an improper claim to victim "
                    "status. An early end needs written reasons. Assistance goes "
                    "on whatever the person decides."
                )
            ],
            submit=_("End the period"),
            success=_("The reflection and recovery period is ended."),
        )

    return _action_page(
        request,
        case_id,
        "reflection_end",
        build_form=lambda data, c: id_forms.ReflectionEndForm(
            data,
            reasons=_end_reasons(c.access, c.case, c.definition, today),
        ),
        perform=lambda c, data: reflection.reflection_end(
            actor=c.user,
            case_id=c.case.pk,
            reason=data["reason"],
            detail=data["detail"],
        ),
        page=page,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def possible_child_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Presume the person a child until an age assessment."""
    return _action_page(
        request,
        case_id,
        "possible_child",
        build_form=lambda data, c: id_forms.PossibleChildForm(data),
        perform=lambda c, data: children.mark_possible_child(
            actor=c.user, case_id=c.case.pk, reason=data["reason"]
        ),
        page=lambda c: _page(
            [
                _(
                    "When the age is uncertain and there are signs the person is "
                    "under 18, treat them as a child until an age assessment. A "
                    "guardian is requested now."
                )
            ],
            submit=_("Treat as a child"),
            success=_("The person is now treated as a child; a guardian is requested."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def asylum_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that the person applied for international protection."""
    return _action_page(
        request,
        case_id,
        "asylum",
        build_form=lambda data, c: id_forms.AsylumForm(data),
        perform=lambda c, data: contacts.asylum_application_record(
            actor=c.user, case_id=c.case.pk, note=data["note"]
        ),
        page=lambda c: _page(
            [
                _(
                    "From now on the authorities of the person's country of origin "
                    "must not be contacted to verify their identity."
                )
            ],
            submit=_("Record the application"),
            success=_("The application for international protection is recorded."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def age_assessment_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record an age assessment (the only way to lift the presumption of minority)."""
    return _action_page(
        request,
        case_id,
        "age_assessment",
        build_form=lambda data, c: id_forms.AgeAssessmentForm(data),
        perform=lambda c, data: children.age_assessment_record(
            actor=c.user,
            case_id=c.case.pk,
            outcome=data["outcome"],
            method=data["method"],
            note=data["note"],
        ),
        page=lambda c: _page(
            [
                _(
                    "Only an age assessment ends the presumption that the person "
                    "is a child. If the result is not clear, the person is still "
                    "treated as a child."
                )
            ],
            submit=_("Record the assessment"),
            success=_("The age assessment is recorded."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def guardian_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that a guardian was appointed."""
    return _action_page(
        request,
        case_id,
        "guardian",
        build_form=lambda data, c: id_forms.GuardianForm(
            data, guardians=id_forms.guardian_candidates()
        ),
        perform=lambda c, data: children.guardian_appoint(
            actor=c.user,
            case_id=c.case.pk,
            guardian_user_id=data["guardian"],
            note=data["note"],
        ),
        page=lambda c: _page(
            [
                _(
                    "A child without parents or carers here gets a guardian at "
                    "once. No decision that limits the child's rights is taken "
                    "without the guardian."
                )
            ],
            submit=_("Record the appointment"),
            success=_("The guardian's appointment is recorded."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def child_protection_notice_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that the child-protection authority was notified."""
    return _action_page(
        request,
        case_id,
        "child_protection_notice",
        build_form=lambda data, c: id_forms.ChildProtectionNoticeForm(data),
        perform=lambda c, data: children.child_protection_notify(
            actor=c.user,
            case_id=c.case.pk,
            authority=data["authority"],
            note=data["note"],
        ),
        page=lambda c: _page(
            [_("Notify the child-protection authority straight away.")],
            submit=_("Record the notification"),
            success=_("The notification is recorded."),
        ),
    )


def _consent_bases(c: Ctx) -> list[tuple[str, str]]:
    """Return the person's valid consents to a transfer abroad, as legal-basis
    choices (read through the consent selector, which audits the read)."""
    rows = consent_list_for_case(user=c.user, case=c.case)
    choices = []
    for row in rows:
        consent = row.consent
        if consent.purpose != Purpose.CROSS_BORDER_TRANSFER or row.state != VALID:
            continue
        recipient = (
            consent.recipient_organisation.name
            if consent.recipient_organisation is not None
            else str(consent.recipient_country.name)
        )
        covers = ", ".join(
            str(DataCategory(c).label) if c in DataCategory.values else c
            for c in consent.categories
        )
        label = _(
            "The person's consent to a transfer to %(recipient)s, given on "
            "%(date)s, covering: %(categories)s"
        ) % {
            "recipient": recipient,
            "date": f"{timezone.localdate(consent.given_at):%Y-%m-%d}",
            "categories": covers or "—",
        }
        choices.append((f"consent:{consent.pk}", label))
    return choices


def _send_verification(c: Ctx, data: dict[str, Any]) -> object:
    """Record the request; through the exchange, also send it (M2)."""
    if data["peer_node"]:
        return verify.identity_verification_send(
            actor=c.user,
            case_id=c.case.pk,
            peer_node=data["peer_node"],
            legal_basis=data["basis"],
            purpose=data["purpose"],
            include_documents=data["include_documents"],
            note=data["note"],
        )
    return contacts.identity_verification_request(
        actor=c.user, case_id=c.case.pk, channel=data["channel"], note=data["note"]
    )


def _verification_sent(data: dict[str, Any]) -> str:
    if not data["peer_node"]:
        return _("The verification request is recorded.")
    return _(
        "The verification request is queued for %(node)s; its answer will show on "
        "this case."
    ) % {"node": data["peer_node"]}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def identity_verification_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record a request to verify identity and nationality, or send one through
    the exchange to the peer node of the person's country of origin (M2)."""

    def page(c: Ctx) -> Page:
        warnings = []
        if engine.is_asylum_applicant(c.case):
            warnings.append(
                _(
                    "The person has applied for international protection: the "
                    "authorities of their country of origin must not be contacted "
                    "to verify their identity. Only domestic registers can be used."
                )
            )
        return _page(
            [
                _(
                    "Ask only for what is needed to confirm who the person is and "
                    "their nationality. Tell the person about the request."
                ),
                _(
                    "Through the exchange, the person's names, birth date and place "
                    "(and, if you choose, identity documents) go to the node of "
                    "their country of origin; never phones or addresses."
                ),
            ],
            warnings=warnings,
            submit=_("Record the request"),
            success=_("The verification request is recorded."),
        )

    def build_form(data: Any, c: Ctx) -> forms.Form:
        offer = verification.exchange_offer(c.case)
        return id_forms.VerificationForm(
            data,
            asylum_applicant=engine.is_asylum_applicant(c.case),
            peers=[(p.node_id, verification.peer_label(p)) for p in offer.peers],
            not_offered=offer.reason,
            bases=_consent_bases(c) if offer.peers else [],
        )

    return _action_page(
        request,
        case_id,
        "identity_verification",
        build_form=build_form,
        perform=_send_verification,
        page=page,
        errors_at={
            ConsentMissing: "legal_basis",
            LegalBasisMissing: "legal_basis",
            PeerUnavailable: "channel",
        },
        success=_verification_sent,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def identity_verification_answer_view(
    request: HttpRequest, case_id: UUID
) -> HttpResponse:
    """Answer the identity check a counterpart node asked about this case."""

    def page(c: Ctx) -> Page:
        request_in = verify.pending_request(c.case)
        intro = [
            _(
                "Check the identity details on this case against your registers, "
                "then say whether the identity is confirmed and which documents "
                "can be issued. Only the outcome and the document options go "
                "back; no personal data."
            )
        ]
        if request_in is not None:
            purpose = verification.latest_purpose(c.case)
            intro.append(
                _("Asked by %(peer)s on %(date)s: %(purpose)s.")
                % {
                    "peer": verification.peer_label(request_in.peer),
                    "date": f"{timezone.localtime(request_in.received_at):%Y-%m-%d}",
                    "purpose": verify.PURPOSES.get(purpose, _("identity check")),
                }
            )
        return _page(
            intro,
            submit=_("Send the answer"),
            success=_("The answer is queued for the counterpart node."),
        )

    return _action_page(
        request,
        case_id,
        "identity_verification_answer",
        build_form=lambda data, c: id_forms.VerificationAnswerForm(data),
        perform=lambda c, data: verify.identity_verification_respond(
            actor=c.user,
            case_id=c.case.pk,
            outcome=data["outcome"],
            document_options=data["document_options"],
        ),
        page=page,
    )


@login_required
@never_cache
@require_http_methods(["GET"])
def received_checks_view(request: HttpRequest) -> HttpResponse:
    """List the identity checks counterpart nodes asked about the cases the
    user sees (national contact points and competent authorities)."""
    user = _user(request)
    rows = verification.received_checks_for_user(user=user)
    return render(
        request,
        "identification/received_checks.html",
        {"rows": rows, "awaiting": sum(1 for r in rows if r.awaiting)},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def contact_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record a contact with the person (the risk review then falls due)."""
    return _action_page(
        request,
        case_id,
        "contact",
        build_form=lambda data, c: id_forms.ContactForm(data),
        perform=lambda c, data: contacts.contact_record(
            actor=c.user, case_id=c.case.pk, kind=data["kind"], note=data["note"]
        ),
        page=lambda c: _page(
            [
                _(
                    "After every contact, review the risk assessment and the "
                    "safety plan with the person."
                )
            ],
            submit=_("Record the contact"),
            success=_("The contact is recorded. Review the risk assessment next."),
        ),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def enforced_removal_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that the authorities enforced the removal (refused while blocked)."""

    def page(c: Ctx) -> Page:
        block = reflection.removal_block(c.case, definition=c.definition)
        intro = [
            _(
                "Forced removal is outside the referral mechanism; it is only "
                "recorded here, with its legal basis."
            )
        ]
        if block is None:
            return _page(
                intro,
                submit=_("Record the removal"),
                success=_("The enforced removal is recorded."),
            )
        return _page(
            intro,
            warnings=[
                _("The person must not be removed from the country now:"),
                *block.reasons,
            ],
            submit=_("Record the removal"),
            success=_("The enforced removal is recorded."),
            show_form=False,
        )

    return _action_page(
        request,
        case_id,
        "enforced_removal",
        build_form=lambda data, c: id_forms.EnforcedRemovalForm(data),
        perform=lambda c, data: reflection.enforced_removal_record(
            actor=c.user, case_id=c.case.pk, legal_basis=data["legal_basis"]
        ),
        page=page,
    )
