"""The vocabulary says which events the code writes: keep it honest."""

from __future__ import annotations

import re
from pathlib import Path

from trm.sop.vocabulary import EVENTS, PLANNED_EVENTS

SOURCE = Path(__file__).resolve().parents[2]


def _written_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        kinds.update(re.findall(r'kind="([a-z0-9_]+\.[a-z0-9_]+)"', path.read_text()))
    return kinds


def test_every_event_not_planned_is_written_by_some_service():
    written = _written_kinds()
    missing = sorted(k for k in EVENTS if k not in PLANNED_EVENTS and k not in written)
    assert missing == [], f"in EVENTS but written nowhere: {missing}"


def test_no_planned_event_is_written_yet():
    written = _written_kinds()
    assert sorted(PLANNED_EVENTS & written) == [], (
        "written now: remove them from PLANNED_EVENTS"
    )
