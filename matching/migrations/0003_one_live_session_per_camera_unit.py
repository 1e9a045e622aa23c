"""At most one live session per camera unit, whatever the deployment (was: per camera unit and deployment).

A camera unit is in one place at a time and each deployment is authorised for one place (domain.md 2.1, gate 4).
Before the constraint changes, the migration refuses to run while some unit is live for two sessions, naming them:
stopping one is a governance action to take in the portal (audited), not something a migration does silently.
"""

from django.db import migrations, models
from django.db.models import Count


def refuse_while_a_camera_is_live_twice(apps, schema_editor):
    session_model = apps.get_model("matching", "MatchingSession")
    doubled = (
        session_model.objects.using(schema_editor.connection.alias)
        .filter(status="live")
        .values("camera_unit_id")
        .annotate(live=Count("id"))
        .filter(live__gt=1)
        .values_list("camera_unit_id", flat=True)
    )
    clashes = [
        "camera unit {}: sessions {}".format(
            camera_id,
            ", ".join(
                str(pk)
                for pk in session_model.objects.using(schema_editor.connection.alias)
                .filter(status="live", camera_unit_id=camera_id)
                .order_by("pk")
                .values_list("pk", flat=True)
            ),
        )
        for camera_id in doubled
    ]
    if clashes:
        raise RuntimeError(
            "Some camera units are live in more than one session ("
            + "; ".join(clashes)
            + "). Stop all but one live session of each unit in the portal (an assigned operator's Stop session, or"
            " suspending the deployment), then run the migration again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0002_sessions"),
    ]

    operations = [
        migrations.RunPython(refuse_while_a_camera_is_live_twice, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(
            model_name="matchingsession",
            name="matching_one_live_session_per_camera",
        ),
        migrations.AddConstraint(
            model_name="matchingsession",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "live")),
                fields=("camera_unit",),
                name="matching_one_live_session_per_camera",
                violation_error_message="This camera unit already has a live session.",
            ),
        ),
    ]
