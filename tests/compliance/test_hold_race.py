"""An evidential hold and the retention sweep take turns on the alert row (PostgreSQL, two connections)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from compliance.choices import Role
from compliance.models import EvidentialHold
from compliance.services import retention as svc
from lfr_portal.errors import NotFound
from tests.compliance.retention_helpers import alert_for, completed_deployment
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_hold_placed_while_the_sweep_destroys_the_probe_waits_and_is_refused(make_user, settings, tmp_path):
    """Before, the hold never touched the alert row: it committed while the sweep held the row, and the sweep
    then destroyed the probe under an active hold that was reported as placed."""
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    settings.MEDIA_ROOT = tmp_path / "media"
    from matching.models import Alert

    deployment = completed_deployment(make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER))
    alert = alert_for(deployment, make_user(Role.LFR_OPERATOR), n=1)[0]
    dpo = make_user(Role.DPO)
    locked, errors = threading.Event(), []

    def sweep() -> None:  # alert_destroy_probe's order: the alert row first, then the write
        try:
            with transaction.atomic():
                Alert.objects.select_for_update().get(pk=alert.pk)
                locked.set()
                time.sleep(1.0)
                now = timezone.now()
                Alert.objects.filter(pk=alert.pk).update(probe_crop=None, probe_destroyed_at=now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=sweep)
    thread.start()
    assert locked.wait(10)
    with pytest.raises(NotFound):
        svc.evidential_hold_place(actor=dpo, target_type="matching.alert", target_id=alert.pk, reason="IOPC")
    thread.join(10)

    assert not errors
    assert not EvidentialHold.objects.exists()
