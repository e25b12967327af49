"""Models of trm.assistance."""

from __future__ import annotations
