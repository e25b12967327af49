"""Models of trm.care."""

from __future__ import annotations
