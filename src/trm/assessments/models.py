"""Models of trm.assessments."""

from __future__ import annotations
