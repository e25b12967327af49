"""Test helpers: tiny documents made in the test, never third-party files."""

from __future__ import annotations

import io
import zipfile

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import UserFactory


def make_pdf(*lines: str) -> bytes:
    """Return a one-page PDF holding ``lines`` as text (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    y = 800
    for line in lines:
        pdf.drawString(72, y, line)
        y -= 20
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_docx() -> bytes:
    """Return the bones of a Word package (enough for the content check)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def editor(role: str = Role.NATIONAL_CONTACT_POINT) -> User:
    return UserFactory(roles=[role])


def reader(role: str = Role.FIRST_CONTACT_POINT) -> User:
    return UserFactory(roles=[role])
