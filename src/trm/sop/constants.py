"""The fixed values of SOP definitions, shared by the loader's modules.

Where the packaged definitions and their schema live, and the steps and fields
that carry legal rules (CETS Art. 10(2) and 13; SOPS §6.5 rules 2 and 10):
:mod:`trm.sop.validation` and :mod:`trm.sop.merge` check them, and
:mod:`trm.sop.loader` re-exports them as its public API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: Where the packaged definitions and their JSON Schema live.
DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
SCHEMA_FILE = DEFINITIONS_DIR / "schema.json"
#: The variant every other packaged variant builds on.
BASELINE = "baseline"

#: Steps that carry legal rules the system relies on, with their legal basis: no
#: variant may remove them, and every complete definition must have them.
PROTECTED_STEPS: Mapping[str, str] = {
    "sop1.formal_identification": "CETS Art. 10(2); SOPS §6.5 rules 2 and 10",
    "sop1.reflection_period": "CETS Art. 13; SOPS §6.5 rule 2",
}
#: The reflection and recovery period, and the fields of its step that decide when
#: it starts, runs and ends. Its length is set only by
#: ``settings.reflection_period.days`` (checked against the 30-day minimum) and
#: its start by ``settings.reflection_period.starts_at``, so a variant may
#: re-word the step or move its reminder, never change these.
REFLECTION_STEP = "sop1.reflection_period"
REFLECTION_STEP_FIXED = (
    "deadline",
    "trigger",
    "done_when",
    "once",
    "period",
    "repeats",
    "applies_when",
    "guards",
)
#: The formal identification decision, and the fields that say what completes
#: it: only the competent authority's decision may (rule 10).
DECISION_STEP = "sop1.formal_identification"
DECISION_STEP_FIXED = (
    "trigger",
    "done_when",
    "once",
    "repeats",
    "applies_when",
    "guards",
)
#: The deadline of :data:`REFLECTION_STEP` in every definition.
REFLECTION_DEADLINE = {"setting": "reflection_period.days"}
#: The longest reflection and recovery period accepted: far beyond any national
#: law, but a mistyped number fails here rather than in every case page.
REFLECTION_MAX_DAYS = 365
