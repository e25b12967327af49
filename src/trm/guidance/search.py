"""Full-text search of the guidance library: one interface, two databases.

The index is a table beside ``guidance_resource`` named
``guidance_resource_fts``, created by migration ``0002_fulltext`` (outside the
ORM: Django models neither an FTS5 table nor a GIN index on SQLite):

- on SQLite (the embedded default), an FTS5 virtual table with three columns
  (title and publisher; summary and topics; the text of the uploaded PDF);
- on PostgreSQL, a table of ``tsvector`` documents (weights A, B, C for the same
  three parts, ``simple`` configuration) with a GIN index, queried with
  ``to_tsquery``.

Both hold text folded by :func:`words` (case, diacritics, punctuation) and
both match every word of a query as a prefix ("indicat" finds "indicators"),
so the same query finds the same resources on either database. The services
call :func:`index_resource` and :func:`unindex_resource` in the transaction of
each change; :func:`matching_ids` is what the selector asks.
"""

from __future__ import annotations

import re
import unicodedata
from uuid import UUID

from django.db import DatabaseError, connection, transaction

from trm.guidance.models import Resource

TABLE = "guidance_resource_fts"
#: Most resources one search returns (ranked): far above any library.
MAX_RESULTS = 1000
#: Most words of a query used.
MAX_QUERY_WORDS = 12
#: Longest text per part read for the index (characters, before folding).
MAX_PART_CHARS = 200_000
#: Most bytes (UTF-8, after folding) indexed per part. PostgreSQL limits a
#: tsvector to 1 MB of lexemes and positions, and folding can make a text
#: several times longer (NFKD expands "㌀" to four katakana): the three parts
#: together stay well under the limit.
MAX_PART_BYTES = {"title": 20_000, "summary": 80_000, "body": 400_000}
#: Longest word indexed or searched (characters; a longer one is cut to this
#: prefix on both databases). PostgreSQL drops a word over 2,047 bytes, which
#: SQLite keeps; 500 characters are at most 2,000 bytes in UTF-8.
MAX_WORD_CHARS = 500

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Return the words of ``text`` folded: lower case, no diacritics.

    A word is a run of letters and digits; everything else separates words,
    so "Directive 2011/36/EU" gives ``directive``, ``2011``, ``36``, ``eu``.
    A word longer than :data:`MAX_WORD_CHARS` is cut to that length, in the
    index and in queries alike, so both databases find the same.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return [
        word[:MAX_WORD_CHARS]
        for word in _WORD.findall(unicodedata.normalize("NFC", bare))
    ]


def _folded(text: str, max_bytes: int) -> str:
    """Return the folded words of ``text``, at most ``max_bytes`` of UTF-8
    (whole words: the text is cut after the last word that fits)."""
    kept: list[str] = []
    size = 0
    for word in words(text[:MAX_PART_CHARS]):
        size += len(word.encode()) + 1
        if size > max_bytes:
            break
        kept.append(word)
    return " ".join(kept)


def _parts(resource: Resource, body_bytes: int) -> tuple[str, str, str]:
    return (
        _folded(
            f"{resource.title} {resource.publisher} {resource.slug}",
            MAX_PART_BYTES["title"],
        ),
        _folded(
            f"{resource.summary} {' '.join(resource.topics)}",
            MAX_PART_BYTES["summary"],
        ),
        _folded(resource.file_text, body_bytes),
    )


def index_resource(resource: Resource) -> None:
    """Write (or rewrite) ``resource``'s entry in the index.

    On PostgreSQL, should the document still be over the tsvector limit (many
    distinct words with many positions), the PDF text indexed is halved until
    it fits (at worst, none of it): saving a resource never fails for it.
    """
    body_bytes = MAX_PART_BYTES["body"]
    title, summary, body = _parts(resource, body_bytes)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE resource_id = %s", [_id(resource)])  # noqa: S608
        if connection.vendor == "postgresql":
            while True:
                try:
                    with transaction.atomic():
                        cursor.execute(
                            f"INSERT INTO {TABLE} (resource_id, document) VALUES "  # noqa: S608
                            "(%s, setweight(to_tsvector('simple', %s), 'A') || "
                            "setweight(to_tsvector('simple', %s), 'B') || "
                            "setweight(to_tsvector('simple', %s), 'C'))",
                            [resource.pk, title, summary, body],
                        )
                    return
                except DatabaseError:
                    if not body:
                        raise
                    body_bytes //= 2
                    body = (
                        _folded(resource.file_text, body_bytes)
                        if body_bytes > 1000
                        else ""
                    )
        else:
            cursor.execute(
                f"INSERT INTO {TABLE} (resource_id, title, summary, body) "  # noqa: S608
                "VALUES (%s, %s, %s, %s)",
                [_id(resource), title, summary, body],
            )


def unindex_resource(resource_id: UUID) -> None:
    """Remove a resource's entry from the index."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE resource_id = %s",  # noqa: S608
            [resource_id if connection.vendor == "postgresql" else resource_id.hex],
        )


def _id(resource: Resource) -> UUID | str:
    # Django stores UUIDs on SQLite as 32 hex digits; the FTS table does the same.
    return resource.pk if connection.vendor == "postgresql" else resource.pk.hex


def matching_ids(query: str) -> list[UUID]:
    """Return the ids of resources holding every word of ``query`` (as a word
    prefix) in their title, publisher, summary, topics or PDF text, best first.

    An empty query (no letters or digits) matches nothing.
    """
    terms = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    if not terms:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT resource_id FROM {TABLE} "  # noqa: S608
                "WHERE document @@ to_tsquery('simple', %s) "
                "ORDER BY ts_rank(document, to_tsquery('simple', %s)) DESC "
                "LIMIT %s",
                [_pg_query(terms), _pg_query(terms), MAX_RESULTS],
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT resource_id FROM {TABLE} WHERE {TABLE} MATCH %s "  # noqa: S608
            "ORDER BY bm25(" + TABLE + ", 10.0, 3.0, 1.0) LIMIT %s",
            [" ".join(f'"{term}"*' for term in terms), MAX_RESULTS],
        )
        return [UUID(row[0]) for row in cursor.fetchall()]


def _pg_query(terms: list[str]) -> str:
    # Each term is letters and digits only (words()), so it needs no quoting.
    return " & ".join(f"{term}:*" for term in terms)


def rebuild() -> int:
    """Rewrite the whole index from the resources; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608
    count = 0
    for resource in Resource.objects.all().iterator():
        index_resource(resource)
        count += 1
    return count
