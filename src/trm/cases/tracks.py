"""The parallel tracks of a case (SOPS §6.2) as data: states and allowed moves.

A case is not one linear status. Each track is a separate field on
:class:`~trm.cases.models.Case`, with its own states and allowed transitions,
so that no track blocks another (assistance never waits on the legal track:
SOPS §6.5 rule 1). Later capabilities add guards and dedicated services; the
allowed moves and who may make them stay here, as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Role


class Identification(models.TextChoices):
    """Region A: identification status."""

    SIGNAL_RECEIVED = "signal_received", _("Signal received")
    SCREENING = "screening", _("Screening")
    PRESUMED = "presumed", _("Presumed trafficked person")
    IDENTIFIED = "identified", _("Identified trafficked person")
    NOT_IDENTIFIED = "not_identified", _("Not identified")
    NO_INDICATION = "no_indication", _("No indication (closed)")


class Assistance(models.TextChoices):
    """Region B: the assistance pathway through SOP 2, 3 and 4."""

    NONE = "none", _("No assistance yet")
    FIRST_ASSISTANCE = "first_assistance", _("First assistance and protection")
    DECLINED = "declined", _("Assistance declined")
    LONG_TERM = "long_term", _("Long-term assistance")
    RETURN_PREPARATION = "return_preparation", _("Return preparation")
    RETURN_ON_HOLD = "return_on_hold", _("Return on hold")
    IN_TRANSIT = "in_transit", _("In transit")
    TRANSIT_INCIDENT = "transit_incident", _("Transit incident")
    HANDED_OVER = "handed_over", _("Handed over")
    REINTEGRATION = "reintegration", _("Reintegration")
    FOLLOW_UP = "follow_up", _("Follow-up")
    TRANSFERRED_ABROAD = "transferred_abroad", _("Transferred abroad")
    CLOSED = "closed", _("Closed")


class Reflection(models.TextChoices):
    """Region C: reflection and recovery period, residence."""

    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    REFLECTION_PERIOD = "reflection_period", _("Reflection and recovery period")
    ENDED_EARLY = "ended_early", _("Reflection period ended early")
    REFLECTION_ENDED = "reflection_ended", _("Reflection period ended")
    PERMIT_COOPERATION = "permit_cooperation", _("Residence permit (cooperation)")
    PERMIT_PERSONAL = "permit_personal", _("Residence permit (personal situation)")
    INTERNATIONAL_PROTECTION = (
        "international_protection",
        _("International protection procedure"),
    )
    PERMIT_EXPIRED = "permit_expired", _("Residence permit expired")


class Legal(models.TextChoices):
    """Region D: criminal and civil proceedings (SOP 5)."""

    NOT_INFORMED = "not_informed", _("Not yet informed of rights")
    INFORMED_OF_RIGHTS = "informed_of_rights", _("Informed of rights")
    DECIDING = "deciding", _("Deciding")
    COOPERATING = "cooperating", _("Cooperating")
    NOT_COOPERATING = "not_cooperating", _("Not cooperating")
    STATEMENT_GIVEN = "statement_given", _("Statement given")
    WITNESS = "witness", _("Witness in proceedings")
    CONCLUDED = "concluded", _("Proceedings concluded")


class ChildProtection(models.TextChoices):
    """Region E: child protection (active while the person is or may be a child)."""

    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    GUARDIAN_REQUESTED = "guardian_requested", _("Guardian requested")
    GUARDIAN_APPOINTED = "guardian_appointed", _("Guardian appointed")
    ENDED = "ended", _("Ended (adult confirmed or came of age)")


class TransnationalLink(models.TextChoices):
    """Region F: link with a case on another node."""

    NO_LINK = "no_link", _("No link abroad")
    NCP_NOTIFIED = "ncp_notified", _("National contact point notified")
    COUNTERPART_ALERTED = "counterpart_alerted", _("Counterpart alerted")
    LINKED = "linked", _("Linked with a case abroad")
    UNLINKED = "unlinked", _("Unlinked")


_FCP, _CM = Role.FIRST_CONTACT_POINT, Role.CASE_MANAGER
_CA, _NCP = Role.COMPETENT_AUTHORITY, Role.NATIONAL_CONTACT_POINT
_SP, _PROS, _G = Role.SERVICE_PROVIDER, Role.PROSECUTOR, Role.GUARDIAN


@dataclass(frozen=True)
class Track:
    """One parallel track: its field, states, allowed moves and who may make them.

    Attributes:
        field: the :class:`Case` field holding the state.
        label: shown on the case page.
        states: the track's TextChoices.
        initial: the state of a new case.
        transitions: state → states reachable from it.
        roles: who may move the track (by their role on the case team);
            ``by_target`` narrows it for particular target states.
        by_target: target state → the only roles that may move there.
        guarded: target states only a dedicated service may move to (it checks
            the step's guards: reasons, authority, the variant). The generic
            :func:`~trm.cases.services.case_move` refuses them.
    """

    field: str
    label: str | Promise
    states: type[models.TextChoices]
    initial: str
    transitions: Mapping[str, frozenset[str]]
    roles: frozenset[str]
    by_target: Mapping[str, frozenset[str]] = dataclass_field(default_factory=dict)
    guarded: frozenset[str] = frozenset()

    def allowed(self, current: str, target: str) -> bool:
        """Return True if ``target`` is reachable from ``current`` on this track."""
        return target in self.transitions.get(current, frozenset())

    def roles_for(self, target: str) -> frozenset[str]:
        """Return the roles that may move this track to ``target``."""
        return self.by_target.get(target, self.roles)


def _moves(pairs: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    return {state: frozenset(targets) for state, targets in pairs.items()}


ID, A, R, L, C, T = (
    Identification,
    Assistance,
    Reflection,
    Legal,
    ChildProtection,
    TransnationalLink,
)
_OPEN_ASSISTANCE = {s for s in A.values if s not in {A.CLOSED}}

TRACKS: dict[str, Track] = {
    "identification": Track(
        field="identification",
        label=_("Identification"),
        states=Identification,
        initial=ID.SIGNAL_RECEIVED,
        transitions=_moves(
            {
                ID.SIGNAL_RECEIVED: {ID.SCREENING, ID.PRESUMED},
                ID.SCREENING: {ID.PRESUMED, ID.NO_INDICATION},
                ID.PRESUMED: {ID.IDENTIFIED, ID.NOT_IDENTIFIED},
                ID.NOT_IDENTIFIED: {ID.PRESUMED},
                ID.NO_INDICATION: {ID.SCREENING},
            }
        ),
        roles=frozenset({_FCP, _CM, _CA, _SP}),
        # SOPS §6.5 rule 10: only the competent authority decides.
        by_target={
            ID.IDENTIFIED: frozenset({_CA}),
            ID.NOT_IDENTIFIED: frozenset({_CA}),
        },
        # Screening (trm.screening) and the identification services
        # (trm.identification) make every move of this track.
        guarded=frozenset(Identification.values),
    ),
    "assistance": Track(
        field="assistance",
        label=_("Assistance"),
        states=Assistance,
        initial=A.NONE,
        transitions=_moves(
            {
                # REINTEGRATION from NONE, FIRST_ASSISTANCE or LONG_TERM: on
                # the node of the country of origin, the person handed over
                # after a return arrived (SOP 4 step 8; only the arrival
                # confirmation makes this move).
                A.NONE: {A.FIRST_ASSISTANCE, A.DECLINED, A.REINTEGRATION, A.CLOSED},
                A.DECLINED: {A.FIRST_ASSISTANCE, A.CLOSED},
                A.FIRST_ASSISTANCE: {
                    A.LONG_TERM,
                    A.REINTEGRATION,
                    A.RETURN_PREPARATION,
                    A.DECLINED,
                    A.TRANSFERRED_ABROAD,
                    A.CLOSED,
                },
                A.LONG_TERM: {
                    A.RETURN_PREPARATION,
                    A.REINTEGRATION,
                    A.DECLINED,
                    A.TRANSFERRED_ABROAD,
                    A.CLOSED,
                },
                A.RETURN_PREPARATION: {
                    A.RETURN_ON_HOLD,
                    A.IN_TRANSIT,
                    A.LONG_TERM,
                    A.CLOSED,
                },
                A.RETURN_ON_HOLD: {A.RETURN_PREPARATION, A.LONG_TERM, A.CLOSED},
                A.IN_TRANSIT: {A.HANDED_OVER, A.TRANSIT_INCIDENT},
                A.TRANSIT_INCIDENT: {A.RETURN_PREPARATION, A.CLOSED},
                A.HANDED_OVER: {A.REINTEGRATION, A.FOLLOW_UP, A.CLOSED},
                A.REINTEGRATION: {A.FOLLOW_UP, A.CLOSED},
                A.FOLLOW_UP: {A.CLOSED},
                A.TRANSFERRED_ABROAD: {A.CLOSED},
                A.CLOSED: {A.FIRST_ASSISTANCE},
            }
        ),
        roles=frozenset({_CM, _SP, _NCP}),
        by_target={
            A.IN_TRANSIT: frozenset({_NCP}),
            A.TRANSFERRED_ABROAD: frozenset({_NCP}),
        },
        # trm.assistance makes these moves: each has its guard (consent or an
        # emergency, information given on declining, a needs assessment before
        # long-term help, a return consent, a closing reason; trm.returns the
        # journey) and none reads the legal track (SOPS §6.5 rule 1).
        guarded=frozenset(
            {
                A.FIRST_ASSISTANCE,
                A.DECLINED,
                A.LONG_TERM,
                A.RETURN_PREPARATION,
                # trm.returns: only when every SOP 4 guard holds (rules 4, 5).
                A.IN_TRANSIT,
                # Only the confirmation of the person's arrival in the country
                # of origin (``return.handover.arrival``, SOP 4 step 8): on
                # the destination node the case is handed over, on the origin
                # node reintegration starts.
                A.HANDED_OVER,
                A.REINTEGRATION,
                A.CLOSED,
            }
        ),
    ),
    "reflection": Track(
        field="reflection",
        label=_("Reflection and residence"),
        states=Reflection,
        initial=R.NOT_APPLICABLE,
        transitions=_moves(
            {
                R.NOT_APPLICABLE: {
                    R.REFLECTION_PERIOD,
                    R.PERMIT_COOPERATION,
                    R.PERMIT_PERSONAL,
                    R.INTERNATIONAL_PROTECTION,
                },
                R.REFLECTION_PERIOD: {
                    R.ENDED_EARLY,
                    R.REFLECTION_ENDED,
                    R.PERMIT_COOPERATION,
                    R.PERMIT_PERSONAL,
                    R.INTERNATIONAL_PROTECTION,
                },
                R.ENDED_EARLY: {R.PERMIT_PERSONAL, R.INTERNATIONAL_PROTECTION},
                R.REFLECTION_ENDED: {
                    R.PERMIT_COOPERATION,
                    R.PERMIT_PERSONAL,
                    R.INTERNATIONAL_PROTECTION,
                },
                R.PERMIT_COOPERATION: {R.PERMIT_PERSONAL, R.PERMIT_EXPIRED},
                R.PERMIT_PERSONAL: {R.PERMIT_COOPERATION, R.PERMIT_EXPIRED},
                R.INTERNATIONAL_PROTECTION: {
                    R.PERMIT_PERSONAL,
                    R.PERMIT_COOPERATION,
                    R.PERMIT_EXPIRED,
                },
                R.PERMIT_EXPIRED: {
                    R.PERMIT_COOPERATION,
                    R.PERMIT_PERSONAL,
                    R.INTERNATIONAL_PROTECTION,
                },
            }
        ),
        roles=frozenset({_CM, _NCP, _CA}),
        # The reflection and recovery period starts and ends through
        # trm.identification (the variant names its start; ends need reasons).
        guarded=frozenset({R.REFLECTION_PERIOD, R.ENDED_EARLY, R.REFLECTION_ENDED}),
    ),
    "legal": Track(
        field="legal",
        label=_("Criminal and civil proceedings"),
        states=Legal,
        initial=L.NOT_INFORMED,
        transitions=_moves(
            {
                L.NOT_INFORMED: {L.INFORMED_OF_RIGHTS},
                L.INFORMED_OF_RIGHTS: {L.DECIDING},
                L.DECIDING: {L.COOPERATING, L.NOT_COOPERATING},
                L.NOT_COOPERATING: {L.DECIDING},
                L.COOPERATING: {L.STATEMENT_GIVEN, L.NOT_COOPERATING},
                L.STATEMENT_GIVEN: {L.WITNESS, L.CONCLUDED},
                L.WITNESS: {L.CONCLUDED},
            }
        ),
        roles=frozenset({_CM, _PROS}),
        # Informing the person of their rights is recorded by
        # trm.proceedings.services.rights_inform (language, interpreter, lawyer,
        # date: SOPS §2 SOP 5 step 1, §6.2 region D), which also lets the
        # competent authority (often the police, who inform) make the move.
        by_target={L.INFORMED_OF_RIGHTS: frozenset({_CM, _CA, _PROS})},
        guarded=frozenset({L.INFORMED_OF_RIGHTS}),
    ),
    "child_protection": Track(
        field="child_protection",
        label=_("Child protection"),
        states=ChildProtection,
        initial=C.NOT_APPLICABLE,
        transitions=_moves(
            {
                C.NOT_APPLICABLE: {C.GUARDIAN_REQUESTED},
                C.GUARDIAN_REQUESTED: {C.GUARDIAN_APPOINTED, C.ENDED},
                C.GUARDIAN_APPOINTED: {C.ENDED},
                C.ENDED: {C.GUARDIAN_REQUESTED},
            }
        ),
        roles=frozenset({_CM, _G, _FCP, _SP}),
        # Only an age assessment lifts the presumption of minority (rule 3);
        # a guardian is appointed through its own form (who, the deadline).
        guarded=frozenset({C.ENDED, C.GUARDIAN_REQUESTED, C.GUARDIAN_APPOINTED}),
    ),
    "transnational": Track(
        field="transnational",
        label=_("Transnational link"),
        states=TransnationalLink,
        initial=T.NO_LINK,
        transitions=_moves(
            {
                T.NO_LINK: {T.NCP_NOTIFIED},
                T.NCP_NOTIFIED: {T.COUNTERPART_ALERTED, T.NO_LINK},
                T.COUNTERPART_ALERTED: {T.LINKED, T.UNLINKED},
                T.LINKED: {T.UNLINKED},
                T.UNLINKED: {T.COUNTERPART_ALERTED},
            }
        ),
        roles=frozenset({_CM, _NCP}),
        by_target={
            T.COUNTERPART_ALERTED: frozenset({_NCP}),
            T.LINKED: frozenset({_NCP}),
        },
    ),
}

#: States on the assistance track in which the case is still being worked.
OPEN_ASSISTANCE_STATES = frozenset(_OPEN_ASSISTANCE)
