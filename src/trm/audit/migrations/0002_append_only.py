"""Make the audit table append-only at the database level.

PostgreSQL: triggers refuse UPDATE and DELETE on every row. SQLite: a trigger
refuses UPDATE (DELETE stays possible there because the test runner empties
tables with DELETE; the hash chain and the head still reveal a deletion).
"""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION trm_audit_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_auditentry is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_auditentry
  FOR EACH ROW EXECUTE FUNCTION trm_audit_refuse_change();
CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_auditentry
  FOR EACH ROW EXECUTE FUNCTION trm_audit_refuse_change();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS audit_entry_no_update ON audit_auditentry;
DROP TRIGGER IF EXISTS audit_entry_no_delete ON audit_auditentry;
DROP FUNCTION IF EXISTS trm_audit_refuse_change();
"""
SQLITE_UP = """
CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_auditentry
BEGIN
  SELECT RAISE(ABORT, 'audit_auditentry is append-only: UPDATE refused');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS audit_entry_no_update;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # params=None: PG_UP contains a literal "%" (RAISE format), which the
        # PostgreSQL schema editor would otherwise treat as a placeholder.
        schema_editor.execute(PG_UP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DOWN)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)


def create_head(apps, schema_editor):
    apps.get_model("audit", "AuditHead").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RunPython(create_head, migrations.RunPython.noop),
    ]
