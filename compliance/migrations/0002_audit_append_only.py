"""Make the audit table append-only in the database itself (PostgreSQL), and create the chain head row.

The trigger refuses UPDATE, DELETE and TRUNCATE. Two narrow exceptions, both needing a setting that only our
own code sets inside one transaction: `lfr.audit_prune = 'on'` lets audit retention delete events it has
exported and checkpointed; `lfr.audit_test_database = 'on'` (set on the *test* database only, by the test
suite) lets the test runner TRUNCATE between transactional tests.
"""

from django.db import migrations

GENESIS_HASH = "0" * 64

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION compliance_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('lfr.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_setting('lfr.audit_test_database', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'compliance_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS compliance_audit_no_update_delete ON compliance_auditevent;
CREATE TRIGGER compliance_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON compliance_auditevent
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_append_only();

DROP TRIGGER IF EXISTS compliance_audit_no_truncate ON compliance_auditevent;
CREATE TRIGGER compliance_audit_no_truncate
    BEFORE TRUNCATE ON compliance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_audit_append_only();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS compliance_audit_no_update_delete ON compliance_auditevent;
DROP TRIGGER IF EXISTS compliance_audit_no_truncate ON compliance_auditevent;
DROP FUNCTION IF EXISTS compliance_audit_append_only();
"""


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


def create_head(apps, schema_editor):
    head_model = apps.get_model("compliance", "AuditChainHead")
    head_model.objects.get_or_create(pk=1, defaults={"last_seq": 0, "last_hash": GENESIS_HASH})


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [
        migrations.RunPython(install_trigger, remove_trigger),
        migrations.RunPython(create_head, migrations.RunPython.noop),
    ]
