"""User API tokens move from DRF's table, which held each token itself, to django-rest-knox's digests.

A client's existing token keeps working (knox finds a token by its first 15 characters and checks the digest of the
whole), keeps its issue date and now expires LFR_API_TOKEN_DAYS after the move; DRF's table is then dropped, so no
token remains in the database in clear. Stop the web servers of the old code before migrating: they read that table.
The move is not an audit event (no service runs it); `manage.py api_token list` shows the moved tokens. It cannot be
undone: the reverse does nothing, and the keys are gone.
"""

import datetime

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def move_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return  # a database created after the move: DRF's token app was never installed
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    AuthToken = apps.get_model("knox", "AuthToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
    expiry = timezone.now() + settings.REST_KNOX["TOKEN_TTL"]
    for key, user_id, created in rows:
        if timezone.is_naive(created):  # SQLite keeps UTC without a zone; PostgreSQL's column has one
            created = timezone.make_aware(created, datetime.timezone.utc)
        digest = hash_token(key)
        token_key = key[: CONSTANTS.TOKEN_KEY_LENGTH]
        AuthToken(digest=digest, token_key=token_key, user_id=user_id, expiry=expiry).save(force_insert=True)
        AuthToken.objects.filter(digest=digest).update(created=created)  # the field sets "now" on create
    schema_editor.execute("DROP TABLE authtoken_token")
    schema_editor.execute("DELETE FROM django_migrations WHERE app = 'authtoken'")


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0009_user_must_change_password"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(move_drf_tokens, migrations.RunPython.noop)]
