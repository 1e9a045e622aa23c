from django.conf import settings
from django.db import migrations, models

# The audit actions that name someone who shaped a list's content but may have left no row behind.
CONTENT_CHANGE_ACTIONS = ("watchlist.entry_updated", "watchlist.entry_removed")


def contributors_from_the_audit_log(apps, schema_editor):
    """Whoever changed or removed an entry, as far as the audit log still says (it was the only record)."""
    Watchlist = apps.get_model("compliance", "Watchlist")
    AuditEvent = apps.get_model("compliance", "AuditEvent")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    users = set(User.objects.values_list("pk", flat=True))
    for watchlist in Watchlist.objects.exclude(status="destroyed"):  # destruction leaves no one linked to a list
        actors = AuditEvent.objects.filter(
            deployment_id=watchlist.deployment_id, action__in=CONTENT_CHANGE_ACTIONS, actor_id__isnull=False
        ).values_list("actor_id", flat=True)
        watchlist.contributors.add(*(set(actors) & users))


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("compliance", "0006_signage_photo_encrypted"),
    ]

    operations = [
        migrations.AddField(
            model_name="watchlist",
            name="contributors",
            field=models.ManyToManyField(
                blank=True, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="contributors"
            ),
        ),
        migrations.RunPython(contributors_from_the_audit_log, migrations.RunPython.noop),
    ]
