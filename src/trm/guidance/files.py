"""Checks of an uploaded guidance file: what it is, by its bytes, not its name.

An upload is accepted only when its content is what its name claims: a PDF
(starts with ``%PDF-`` and pypdf can read it), a Word, Excel or PowerPoint file
(an Office Open XML package) or an OpenDocument text or spreadsheet. Programs
(Windows ``MZ``, ELF, Mach-O, scripts starting ``#!``), HTML and anything else
are refused with a message naming the problem, as is a file larger than
``settings.TRM_GUIDANCE_MAX_UPLOAD_MB``. The file is served only as a download
(:func:`trm.guidance.views.download_view`), never rendered.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from trm.guidance.errors import GuidanceInvalidInput

logger = logging.getLogger(__name__)

PDF = "application/pdf"
OCTET_STREAM = "application/octet-stream"

#: Accepted extensions and what their content must be.
KINDS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "ooxml:word/",
    ".xlsx": "ooxml:xl/",
    ".pptx": "ooxml:ppt/",
    ".odt": "odf:application/vnd.oasis.opendocument.text",
    ".ods": "odf:application/vnd.oasis.opendocument.spreadsheet",
}

#: Leading bytes of programs: refused whatever the file is called.
PROGRAM_MAGIC: tuple[bytes, ...] = (
    b"MZ",  # Windows (PE) and DOS programs
    b"\x7fELF",  # Linux and Unix programs
    b"\xca\xfe\xba\xbe",  # Mach-O universal (and Java classes)
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"#!",  # scripts
)

#: Most text kept from one PDF (characters) and pages read: enough to find a
#: document by a word inside it, bounded so a huge file cannot exhaust memory.
MAX_TEXT_CHARS = 200_000
MAX_PAGES = 500
#: Largest page content (decoded bytes of the page's content streams and its
#: form XObjects) whose text is extracted: pypdf takes about 2.5 s per MB, so a
#: small deflated upload could otherwise tie up a worker for minutes. A larger
#: page (a map, a drawing) is kept but its text is not searchable.
MAX_PAGE_CONTENT_BYTES = 512 * 1024
#: Most wall-clock time spent extracting the text of one PDF (seconds); the
#: pages read by then are searchable, the rest are not.
TEXT_TIME_BUDGET = 2.0
#: Largest ``mimetype`` entry of an OpenDocument package read (bytes): the
#: longest OpenDocument media type is about 50 characters.
MAX_MIMETYPE_BYTES = 100


@dataclass(frozen=True)
class CheckedFile:
    """An accepted upload.

    Attributes:
        content: the bytes.
        name: the safe name it is downloaded as (``Indicators_2009.pdf``).
        extension: ``.pdf``, ``.docx``…
        content_type: ``application/pdf`` for a PDF, else
            ``application/octet-stream`` (never a type a browser renders).
        sha256: hex digest of the content.
        text: text extracted from a PDF (empty for other kinds).
    """

    content: bytes
    name: str
    extension: str
    content_type: str
    sha256: str
    text: str


def max_upload_bytes() -> int:
    """Return the largest accepted file, in bytes (the setting is in MiB)."""
    return int(settings.TRM_GUIDANCE_MAX_UPLOAD_MB) * 1024 * 1024


def _invalid(message: str) -> GuidanceInvalidInput:
    return GuidanceInvalidInput(message, details={"field": "file"})


def too_large_error() -> GuidanceInvalidInput:
    """Return the refusal of a file over the node's limit."""
    return _invalid(
        _("The file is larger than %(mb)d MB, the limit on this node.")
        % {"mb": settings.TRM_GUIDANCE_MAX_UPLOAD_MB}
    )


def safe_name(name: str, extension: str) -> str:
    """Return a download name made of letters, digits, ``-``, ``_`` and ``.``.

    Path parts are dropped, runs of dots become one, the extension is the
    checked one and the stem at most 100 characters ("document" when nothing
    usable remains, e.g. for ``..pdf``). Never raises.
    """
    stem = PurePath(name.replace("\\", "/")).name
    if stem.lower().endswith(extension):
        stem = stem[: -len(extension)] if extension else stem
    stem = re.sub(r"[^\w.-]+", "_", stem.strip())
    stem = re.sub(r"\.{2,}", ".", stem)
    stem = stem.strip("._-")[:100].strip("._-") or "document"
    return f"{stem}{extension}"


def check_upload(name: str, content: bytes) -> CheckedFile:
    """Check an uploaded file by its content; return it with its safe name.

    Args:
        name: the name the browser or client gave (only its extension counts).
        content: the file's bytes.

    Raises:
        GuidanceInvalidInput: ``details["field"] == "file"``: empty, too large,
            a program, an extension not accepted, or content that is not what
            the extension claims (a PDF that is not a PDF, a damaged PDF).
    """
    if not content:
        raise _invalid(_("The file is empty."))
    if len(content) > max_upload_bytes():
        raise too_large_error()
    if content.startswith(PROGRAM_MAGIC):
        raise _invalid(_("This file is a program, not a document: it is refused."))
    extension = PurePath(name.lower()).suffix
    kind = KINDS.get(extension)
    if kind is None:
        raise _invalid(
            _(
                "Upload a PDF, a Word, Excel or PowerPoint file (.docx, .xlsx, "
                ".pptx) or an OpenDocument file (.odt, .ods)."
            )
        )
    text = ""
    if kind == "pdf":
        text = _pdf_text(content)
        content_type = PDF
    else:
        _check_package(content, kind, extension)
        content_type = OCTET_STREAM
    return CheckedFile(
        content=content,
        name=safe_name(name, extension),
        extension=extension,
        content_type=content_type,
        sha256=hashlib.sha256(content).hexdigest(),
        text=text,
    )


class _TimeSpent(Exception):
    """Raised inside pypdf's text extraction when the time budget is spent."""


def _page_content_bytes(page: Any) -> int:
    """Return the decoded size of a page's content and its form XObjects."""
    contents = page.get_contents()
    size = len(contents.get_data()) if contents is not None else 0
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources else None
    for ref in xobjects.get_object().values() if xobjects else ():
        xobject = ref.get_object()
        if xobject.get("/Subtype") == "/Form":
            size += len(xobject.get_data())
    return int(size)


def _pdf_text(content: bytes) -> str:
    """Return the text of a PDF's pages, refusing what is not a readable PDF.

    Text is read from at most :data:`MAX_PAGES` pages, up to
    :data:`MAX_TEXT_CHARS` characters, for at most :data:`TEXT_TIME_BUDGET`
    seconds, skipping a page whose content exceeds
    :data:`MAX_PAGE_CONTENT_BYTES`; what is not read is not searchable.

    Raises:
        GuidanceInvalidInput: not a PDF, or pypdf fails on it in any way (an
            unknown filter, a missing decoder, nesting too deep for Python's
            recursion limit…): the file is refused as damaged.
    """
    if not content.startswith(b"%PDF-"):
        raise _invalid(_("The file is called .pdf but is not a PDF."))
    from pypdf import PdfReader

    deadline = time.monotonic() + TEXT_TIME_BUDGET

    def _check_time(*_args: object) -> None:
        if time.monotonic() > deadline:
            raise _TimeSpent

    parts: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return ""  # a password-protected PDF: accepted, not searchable
        size = 0
        for index, page in enumerate(reader.pages):
            if index >= MAX_PAGES or size >= MAX_TEXT_CHARS:
                break
            if time.monotonic() > deadline:
                logger.info("guidance: PDF text extraction stopped (time budget)")
                break
            if _page_content_bytes(page) > MAX_PAGE_CONTENT_BYTES:
                continue
            try:
                part = page.extract_text(visitor_operand_before=_check_time) or ""
            except _TimeSpent:
                logger.info("guidance: PDF text extraction stopped (time budget)")
                break
            parts.append(part)
            size += len(part)
    except Exception:  # pypdf raises anything on a damaged file
        # RecursionError included: deeply nested objects exhaust the stack.
        logger.info("guidance: an uploaded PDF could not be read")
        raise _invalid(_("The PDF cannot be read; it may be damaged.")) from None
    return "\n".join(parts)[:MAX_TEXT_CHARS].replace("\x00", "")


def _check_package(content: bytes, kind: str, extension: str) -> None:
    """Refuse a file that is not the Office or OpenDocument package it claims."""
    wrong = _invalid(
        _("The file is called %(ext)s but is not such a document.") % {"ext": extension}
    )
    if not content.startswith(b"PK\x03\x04"):
        raise wrong
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            names = set(package.namelist())
            family, _sep, expected = kind.partition(":")
            if family == "ooxml":
                if "[Content_Types].xml" not in names or not any(
                    n.startswith(expected) for n in names
                ):
                    raise wrong
            else:
                # Read a few bytes only, whatever the entry claims: a
                # "mimetype" inflating to gigabytes must not be expanded.
                info = package.getinfo("mimetype")
                if info.file_size > MAX_MIMETYPE_BYTES:
                    raise wrong
                with package.open(info) as entry:
                    declared = entry.read(MAX_MIMETYPE_BYTES + 1)
                if declared.decode("ascii").strip() != expected:
                    raise wrong
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        KeyError,
        UnicodeDecodeError,
        OSError,
        ValueError,
        NotImplementedError,
        EOFError,
    ):
        raise wrong from None
