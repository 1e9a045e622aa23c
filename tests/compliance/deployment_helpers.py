"""Build deployments through the services, so tests exercise the same rules as the portal."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from compliance import gates
from compliance.choices import OffenceType, UseCase, WatchlistCategory
from compliance.models import CameraUnit, Deployment, User
from compliance.services import deployments as svc


def camera(identifier: str = "van-1", **kwargs: Any) -> CameraUnit:
    return CameraUnit.objects.get_or_create(identifier=identifier, defaults={"force": "Demo", **kwargs})[0]


def first_start() -> datetime.datetime:
    """A window start two days ahead, on the hour, so the 24 h notice rule holds for a notice given now."""
    return (timezone.now() + datetime.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def windows(count: int = 1, hours: int = 8) -> list[tuple[datetime.datetime, datetime.datetime]]:
    start = first_start()
    return [(start + datetime.timedelta(days=i), start + datetime.timedelta(days=i, hours=hours)) for i in range(count)]


def complete_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "Town centre knife crime operation",
        "use_case": UseCase.CRIME_HOTSPOT,
        "objectives": "Locate people wanted for knife crime offences in the town centre.",
        "offence_types": [OffenceType.KNIFE_CRIME, OffenceType.ROBBERY],
        "location_name": "High Street, Newtown",
        "location_address": "High Street between Market Square and the station, Newtown",
        "latitude": 51.5,
        "longitude": -0.12,
        "zone_of_recognition": "20 m either side of the van on the pedestrianised street",
        "location_grounds": "Intelligence reports and 14 knife robberies here in the last 3 months.",
        "necessity": "Patrols have not located the wanted persons.",
        "proportionality": "Short windows, small watch-list, signage and leaflets.",
        "alternatives_considered": "Targeted patrols; CCTV review; media appeals.",
        "watchlist_categories": [WatchlistCategory.WANTED_BY_COURTS, WatchlistCategory.WANTED_ON_SUSPICION],
        "watchlist_max_size": 50,
        "match_threshold": 0.5,
        "dpia_reference": "DPIA-LFR-7",
        "dpia_version": "3.1",
        "eia_reference": "EIA-LFR-2",
        "apd_reference": "APD-2024",
        "public_notice_at": timezone.now() - datetime.timedelta(hours=1),
        "public_notice_where": "Force website and social media",
        "public_notice_text": "Live facial recognition will be used on High Street this week.",
        "standalone_attested": True,
    }
    fields.update(overrides)
    return fields


def draft(
    applicant: User, *, window_list: list | None = None, cameras: list | None = None, **overrides: Any
) -> Deployment:
    cams = cameras if cameras is not None else [camera()]
    return svc.deployment_create(
        actor=applicant,
        windows=windows() if window_list is None else window_list,
        camera_unit_ids=[c.pk for c in cams],
        **complete_fields(**overrides),
    )


def submitted(applicant: User, **kwargs: Any) -> Deployment:
    return svc.deployment_submit(actor=applicant, deployment=draft(applicant, **kwargs))


def expiry(days: int = 7) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


def authorised(applicant: User, ao: User, **kwargs: Any) -> Deployment:
    deployment = submitted(applicant, **kwargs)
    svc.deployment_authorise(
        actor=ao, deployment=deployment, rationale="Necessary and proportionate.", expires_at=expiry()
    )
    return Deployment.objects.get(pk=deployment.pk)


@pytest.fixture
def watchlist_ok():
    """The watch-list gate passes (the matching app's real gate is not what these tests are about)."""
    saved = list(gates._watchlist_gate)
    gates.register_watchlist_gate(lambda deployment, at: (True, "Approved watch-list"))
    yield
    gates._watchlist_gate[:] = saved
