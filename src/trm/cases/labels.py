"""Human labels of timeline event kinds, shared by the case page and the export."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

EVENT_LABELS: dict[str, Promise] = {
    "case.track_moved": gettext_lazy("Track changed"),
    "case.opened": gettext_lazy("Case opened"),
    "case.closed": gettext_lazy("Case closed"),
    "case.team_added": gettext_lazy("Someone joined the case team"),
    "case.team_removed": gettext_lazy("Someone left the case team"),
    "case.note_added": gettext_lazy("Note added"),
    "person.identity_updated": gettext_lazy("Identity details changed"),
    "person.photo_updated": gettext_lazy("Photo changed"),
    "consent.recorded": gettext_lazy("Consent recorded"),
    "consent.withdrawn": gettext_lazy("Consent withdrawn"),
    "dataprotection.erasure_requested": gettext_lazy("Erasure requested"),
    "dataprotection.erasure_cancelled": gettext_lazy("Erasure request cancelled"),
    "dataprotection.person_erased": gettext_lazy("Personal data erased"),
}


#: Labels of the clear ``code`` of track moves, by (track, code): the basis of a
#: start or why a track closed. Apps that move a track with codes register
#: theirs at start-up (:func:`register_move_codes`).
MOVE_CODE_LABELS: dict[tuple[str, str], Promise] = {}


def register_move_codes(track: str, labels: dict[str, Promise]) -> None:
    """Label the codes an app writes on ``track``'s moves (``AppConfig.ready``)."""
    for code, label in labels.items():
        MOVE_CODE_LABELS[(track, code)] = label


def move_code_label(track: str, code: str) -> str:
    """Return the label of a track move's code in the active language ("" if none)."""
    label = MOVE_CODE_LABELS.get((track, code)) if code else None
    return str(label) if label is not None else ""


def event_kind_label(kind: str) -> str:
    """Return the label of an event kind in the active language (else the code).

    Kinds written by the SOP services are labelled in
    :data:`trm.sop.vocabulary.EVENTS`.
    """
    from trm.sop.vocabulary import EVENTS

    label = EVENT_LABELS.get(kind) or EVENTS.get(kind)
    return str(label) if label is not None else kind
