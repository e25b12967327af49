"""Helpers for showing domain errors on forms."""

from __future__ import annotations

from django import forms

from trm.common.errors import DomainError


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Attach ``error`` to the field it names (``details["field"]``) or the form."""
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, error.message)
