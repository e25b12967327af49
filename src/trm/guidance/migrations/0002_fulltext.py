"""The full-text index beside the resources (trm.guidance.search).

SQLite: an FTS5 virtual table. PostgreSQL: a table of tsvector documents with a
GIN index. Other databases: none (search then finds nothing by words).
"""

from django.db import migrations

# Frozen copies of trm.guidance.search's statements (a migration must not
# change when that module does).
SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS guidance_resource_fts USING fts5("
    "resource_id UNINDEXED, title, summary, body, tokenize = 'unicode61')"
)
POSTGRES_CREATE = [
    "CREATE TABLE IF NOT EXISTS guidance_resource_fts ("
    "resource_id uuid PRIMARY KEY, document tsvector NOT NULL)",
    "CREATE INDEX IF NOT EXISTS guidance_resource_fts_gin "
    "ON guidance_resource_fts USING gin (document)",
]
DROP = "DROP TABLE IF EXISTS guidance_resource_fts"


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)
    elif vendor == "postgresql":
        for statement in POSTGRES_CREATE:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor in {"sqlite", "postgresql"}:
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("guidance", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
