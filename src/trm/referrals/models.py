"""Models of trm.referrals."""

from __future__ import annotations
