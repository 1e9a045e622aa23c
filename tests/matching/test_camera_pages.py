"""Camera units and tokens in the portal (issue 6): the Administrator registers units and issues, rotates and
revokes their tokens; a new token is shown once; every other role is refused; every change is audited."""

from __future__ import annotations

import re

import pytest

from compliance.choices import Role
from compliance.models import AuditEvent, CameraUnit
from matching.models import CameraToken
from matching.services import cameras as camera_services

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"lfrcam_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMINISTRATOR, username="admin")


@pytest.fixture
def camera(admin):
    return camera_services.camera_unit_register(actor=admin, identifier="van-3", force="Demo Constabulary")


def _secret(response) -> str:
    found = TOKEN.findall(response.content.decode())
    assert len(found) == 1, "the result page shows exactly one token"
    return found[0]


def test_administrator_registers_a_camera_unit_and_it_is_listed_and_audited(admin, client_for):
    client = client_for(admin)
    page = client.get("/cameras/")
    assert page.status_code == 200 and "Register a camera unit" in page.content.decode()

    response = client.post("/cameras/", {"identifier": "van-7", "force": "Kent Police", "description": "Mast camera"})

    assert response.status_code == 302 and response["Location"] == "/cameras/"
    unit = CameraUnit.objects.get(identifier="van-7")
    assert (unit.force, unit.description) == ("Kent Police", "Mast camera")
    listed = client.get("/cameras/").content.decode()
    assert "van-7" in listed and "Kent Police" in listed and "No token issued" in listed
    event = AuditEvent.objects.get(action="camera_unit.registered")
    assert event.actor_username == "admin" and event.target_id == str(unit.pk)


def test_a_duplicate_or_incomplete_camera_unit_is_refused_on_the_form(admin, camera, client_for):
    client = client_for(admin)
    duplicate = client.post("/cameras/", {"identifier": "van-3", "force": "Demo Constabulary"})
    assert duplicate.status_code == 200 and "Choose another identifier." in duplicate.content.decode()
    incomplete = client.post("/cameras/", {"identifier": "", "force": ""})
    assert incomplete.status_code == 200 and "has-error" in incomplete.content.decode()
    assert CameraUnit.objects.count() == 1


def test_an_issued_token_is_shown_once_and_works_only_as_a_digest(admin, camera, client_for):
    client = client_for(admin)

    response = client.post(f"/cameras/{camera.pk}/token/issue/")

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = _secret(response)
    assert "shown only this once" in response.content.decode()
    token = CameraToken.objects.get(camera_unit=camera)
    assert token.key_sha256 == camera_services.token_digest(secret) and secret not in token.prefix
    listed = client.get("/cameras/").content.decode()
    assert secret not in listed and token.prefix in listed and "Never used" in listed
    assert not TOKEN.search(listed.replace(token.prefix + "…", ""))
    assert camera_services.camera_authenticate(secret) is not None
    assert "Last used" in client.get("/cameras/").content.decode()
    event = AuditEvent.objects.get(action="camera_token.issued")
    assert secret not in str(event.after) and event.after["prefix"] == token.prefix


def test_issuing_a_second_token_is_refused_with_a_message(admin, camera, client_for):
    client = client_for(admin)
    client.post(f"/cameras/{camera.pk}/token/issue/")
    again = client.post(f"/cameras/{camera.pk}/token/issue/", follow=True)
    assert not TOKEN.search(again.content.decode().replace(CameraToken.objects.get().prefix + "…", ""))
    assert "already has an active token" in again.content.decode()
    assert CameraToken.objects.count() == 1


def test_rotating_shows_the_new_token_once_and_revokes_the_old(admin, camera, client_for):
    client = client_for(admin)
    old_secret = _secret(client.post(f"/cameras/{camera.pk}/token/issue/"))
    old = CameraToken.objects.get()

    response = client.post(f"/cameras/{camera.pk}/token/rotate/", {"token_id": old.pk})

    new_secret = _secret(response)
    assert new_secret != old_secret and "previous token is revoked" in response.content.decode()
    assert camera_services.camera_authenticate(old_secret) is None
    assert camera_services.camera_authenticate(new_secret) is not None
    assert new_secret not in client.get("/cameras/").content.decode()
    assert AuditEvent.objects.get(action="camera_token.rotated").before["token_id"] == old.pk


def test_a_resubmitted_rotation_rotates_nothing_more(admin, camera, client_for):
    client = client_for(admin)
    client.post(f"/cameras/{camera.pk}/token/issue/")
    old = CameraToken.objects.get()
    client.post(f"/cameras/{camera.pk}/token/rotate/", {"token_id": old.pk})

    again = client.post(f"/cameras/{camera.pk}/token/rotate/", {"token_id": old.pk})

    assert again.status_code == 302
    assert CameraToken.objects.count() == 2 and AuditEvent.objects.filter(action="camera_token.rotated").count() == 1


def test_revoking_stops_the_camera_and_the_page_says_so(admin, camera, client_for):
    client = client_for(admin)
    secret = _secret(client.post(f"/cameras/{camera.pk}/token/issue/"))

    response = client.post(f"/cameras/{camera.pk}/token/revoke/", follow=True)

    page = response.content.decode()
    assert "Revoked" in page and "Issue token" in page and secret not in page
    assert camera_services.camera_authenticate(secret) is None
    event = AuditEvent.objects.get(action="camera_token.revoked")
    assert event.actor_username == "admin"
    assert client.post(f"/cameras/{camera.pk}/token/revoke/", follow=True).status_code == 200


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.ADMINISTRATOR])
def test_other_roles_are_refused_every_camera_page(make_user, camera, client_for, role):
    client = client_for(make_user(role))
    assert client.get("/cameras/").status_code == 403
    refused = client.post("/cameras/", {"identifier": "van-9", "force": "Demo Constabulary"})
    assert refused.status_code == 403 and "That action was refused" in refused.content.decode()
    for action in ("issue", "rotate", "revoke"):
        assert client.post(f"/cameras/{camera.pk}/token/{action}/").status_code == 403
    assert CameraUnit.objects.count() == 1 and not CameraToken.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="camera_token.").exists()


def test_the_administrator_finds_camera_units_from_the_nav_and_home(admin, client_for):
    home = client_for(admin).get("/").content.decode()
    assert 'href="/cameras/"' in home
