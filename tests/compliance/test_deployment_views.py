"""Deployment pages: forms keep input on error, decisions and transitions, timeline, dashboards per role."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from compliance.choices import DeploymentStatus, Role
from compliance.models import Deployment
from compliance.services import deployments as svc
from tests.compliance import deployment_helpers as h

pytestmark = pytest.mark.django_db


def _local(dt: datetime.datetime) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%d %H:%M")


def _form_data(**overrides) -> dict:
    fields = h.complete_fields()
    start, end = h.windows()[0]
    data = {
        **{k: v for k, v in fields.items() if not isinstance(v, list | bool | datetime.datetime)},
        "offence_types": fields["offence_types"],
        "watchlist_categories": fields["watchlist_categories"],
        "public_notice_at": timezone.localtime(fields["public_notice_at"]).strftime("%Y-%m-%dT%H:%M"),
        "standalone_attested": "on",
        "alert_policy": "threshold",
        "windows": f"{_local(start)} to {_local(end)}",
        "camera_units": [h.camera().pk],
    }
    data.update(overrides)
    return data


def test_applicant_creates_draft_with_windows_one_per_line(users, client_for):
    client = client_for(users[Role.APPLICANT])
    response = client.post("/deployments/new/", _form_data())
    deployment = Deployment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/deployments/{deployment.pk}/"
    assert deployment.windows.count() == 1 and deployment.status == DeploymentStatus.DRAFT
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Submit for authorisation" in page and "deployment.created" in page


def test_form_keeps_input_and_names_the_rule_on_error(users, client_for):
    start = h.first_start()
    too_long = f"{_local(start)} to {_local(start + datetime.timedelta(hours=13))}"
    response = client_for(users[Role.APPLICANT]).post(
        "/deployments/new/", _form_data(windows=too_long, objectives="Keep this text")
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "maximum is 12 hours" in page
    assert "Keep this text" in page and too_long in page
    assert Deployment.objects.count() == 0


def test_each_hint_and_error_is_tied_to_its_field(users, client_for):
    # Django's widgets name <id>_helptext and <id>_error in aria-describedby; the page must have those ids.
    from tests.a11y import missing_described_by_targets

    client = client_for(users[Role.APPLICANT])
    page = client.post("/deployments/new/", _form_data(windows="tomorrow morning", title="")).content.decode()
    assert "aria-describedby" in page and 'aria-invalid="true"' in page
    assert missing_described_by_targets(page) == []
    assert missing_described_by_targets(client.get("/deployments/new/").content.decode()) == []


def test_badly_formatted_window_line_is_named(users, client_for):
    response = client_for(users[Role.APPLICANT]).post("/deployments/new/", _form_data(windows="tomorrow morning"))
    assert "Line 1 (tomorrow morning)" in response.content.decode()


def test_submit_from_page_lists_problems_when_incomplete(users, client_for):
    deployment = svc.deployment_create(actor=users[Role.APPLICANT], title="Gappy")
    client = client_for(users[Role.APPLICANT])
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Before you can submit" in page and "Bridges" in page
    response = client.post(f"/deployments/{deployment.pk}/submit/", follow=True)
    assert "not complete" in response.content.decode()
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.DRAFT


def test_ao_authorises_through_the_decision_form(users, client_for):
    deployment = h.submitted(users[Role.APPLICANT])
    client = client_for(users[Role.AUTHORISING_OFFICER])
    expires = timezone.localtime(h.expiry()).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/deployments/{deployment.pk}/decide/",
        {"decision": "authorise", "rationale": "", "expires_at": expires},
    )
    assert "Record the rationale" in response.content.decode()
    response = client.post(
        f"/deployments/{deployment.pk}/decide/",
        {"decision": "authorise", "rationale": "Proportionate.", "expires_at": expires, "conditions": "Brief at 08:00"},
        follow=True,
    )
    page = response.content.decode()
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.AUTHORISED
    assert "In force" in page and "Authorisation record (PDF)" in page and "deployment.authorised" in page


def test_ao_cannot_use_the_decision_form_below_rank(users, client_for, make_user):
    from compliance.choices import Rank

    deployment = h.submitted(users[Role.APPLICANT])
    inspector = make_user(Role.AUTHORISING_OFFICER, rank=Rank.INSPECTOR)
    expires = timezone.localtime(h.expiry()).strftime("%Y-%m-%dT%H:%M")
    response = client_for(inspector).post(
        f"/deployments/{deployment.pk}/decide/", {"decision": "authorise", "rationale": "x", "expires_at": expires}
    )
    assert response.status_code == 403 and "Superintendent" in response.content.decode()


def test_material_change_is_visible_on_the_page(users, client_for):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    client = client_for(users[Role.APPLICANT])
    start, end = h.windows()[0]
    data = _form_data(location_name="Market Square", windows=f"{_local(start)} to {_local(end)}")
    response = client.post(f"/deployments/{deployment.pk}/edit/", data, follow=True)
    page = response.content.decode()
    assert "material change" in page and "Authorisation voided." in page and "Voided" in page
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.SUBMITTED


def test_suspend_needs_a_reason_and_then_stops(users, client_for):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    client = client_for(users[Role.DPO])
    assert "Suspend" in client.get(f"/deployments/{deployment.pk}/").content.decode()
    response = client.post(f"/deployments/{deployment.pk}/suspend/", {"reason": ""})
    assert response.status_code == 200 and "A reason is required." in response.content.decode()
    client.post(f"/deployments/{deployment.pk}/suspend/", {"reason": "DPIA out of date"})
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.SUSPENDED
    # A second suspension is an illegal transition: a clear 409, not a silent no-op.
    response = client.post(f"/deployments/{deployment.pk}/suspend/", {"reason": "again"})
    assert response.status_code == 409


def test_signage_and_leaflet_forms(users, client_for):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    client = client_for(users[Role.APPLICANT])
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/deployments/{deployment.pk}/signage/new/",
        {"position_description": "Exit", "sign_count": 2, "placed_at": now},
    )
    assert response.status_code == 302
    response = client.post(f"/deployments/{deployment.pk}/leaflets/new/", {"count": 40, "shift_start": now})
    assert response.status_code == 302
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Exit" in page and "40" in page and "deployment.signage_recorded" in page


def test_team_form_assigns_trained_officers(users, client_for):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    client = client_for(users[Role.APPLICANT])
    response = client.post(f"/deployments/{deployment.pk}/team/", {"officers": [users[Role.LFR_OPERATOR].pk]})
    assert response.status_code == 302
    assert list(deployment.assigned_officers.all()) == [users[Role.LFR_OPERATOR]]


def test_pages_hidden_from_those_who_may_not_see(users, client_for):
    deployment = h.draft(users[Role.APPLICANT])
    for role in (Role.AUTHORISING_OFFICER, Role.LFR_OPERATOR, Role.ADMINISTRATOR):
        assert client_for(users[role]).get(f"/deployments/{deployment.pk}/").status_code == 404
    assert client_for(users[Role.AUTHORISING_OFFICER]).get("/deployments/new/").status_code == 404


def test_dashboards_show_each_roles_next_action(users, client_for):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    draft = h.draft(applicant, title="Draft one")
    waiting = h.submitted(applicant, title="Waiting one")
    live = h.authorised(applicant, ao, title="Live one")
    svc.deployment_set_assigned_officers(actor=applicant, deployment=live, officer_ids=[users[Role.LFR_OPERATOR].pk])
    applicant_page = client_for(applicant).get("/").content.decode()
    assert draft.reference in applicant_page and waiting.reference in applicant_page
    ao_page = client_for(ao).get("/").content.decode()
    assert "Awaiting your authorisation" in ao_page and waiting.reference in ao_page
    assert draft.reference not in ao_page
    dpo_page = client_for(users[Role.DPO]).get("/").content.decode()
    assert "Deployments by state" in dpo_page
    day = timezone.localtime(live.windows.get().start).date()
    from compliance.selectors.deployments import deployment_live_on

    assert list(deployment_live_on(user=users[Role.LFR_OPERATOR], day=day)) == [live]
    assert list(deployment_live_on(user=users[Role.ENGAGEMENT_OFFICER], day=day)) == []


def test_transparency_link_for_everybody(users, client_for):
    assert 'href="/transparency/"' in Client().get("/accounts/login/").content.decode()
    assert 'href="/transparency/"' in client_for(users[Role.APPLICANT]).get("/").content.decode()


def test_every_page_renders_for_its_role(users, client_for):
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao)
    record = svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Exit", sign_count=1, placed_at=timezone.now()
    )
    leaflets = svc.leaflet_record_add(actor=applicant, deployment=deployment, count=5, shift_start=timezone.now())
    submitted = h.submitted(applicant)
    pk = deployment.pk
    pages = {
        applicant: [
            "/deployments/", "/deployments/new/", f"/deployments/{pk}/", f"/deployments/{pk}/edit/",
            f"/deployments/{pk}/team/", f"/deployments/{pk}/signage/new/", f"/deployments/{pk}/signage/{record.pk}/",
            f"/deployments/{pk}/leaflets/new/", f"/deployments/{pk}/leaflets/{leaflets.pk}/",
        ],
        ao: [f"/deployments/{submitted.pk}/decide/", f"/deployments/{pk}/suspend/", f"/deployments/{pk}/close/"],
        users[Role.DPO]: ["/deployments/?status=authorised", f"/deployments/{pk}/revoke/"],
    }  # fmt: skip
    for user, urls in pages.items():
        client = client_for(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
    edit_page = client_for(applicant).get(f"/deployments/{pk}/edit/").content.decode()
    assert "<legend>Offence types targeted" in edit_page and "voids the authorisation" in edit_page
    svc.deployment_close(actor=ao, deployment=deployment, reason="done")
    assert client_for(ao).get(f"/deployments/{pk}/review/").status_code == 200


def test_saving_the_title_keeps_windows_with_seconds_and_an_inactive_camera_and_voids_nothing(users, client_for):
    """The form shows windows to the minute and offered only active cameras: resending them changed the windows
    and dropped the camera, which is material, so editing the title voided the authorisation."""
    (start, end), (start2, end2) = h.windows(count=2)
    cam = h.camera("van-7")
    deployment = h.authorised(
        users[Role.APPLICANT],
        users[Role.AUTHORISING_OFFICER],
        window_list=[(start + datetime.timedelta(seconds=30), end), (start2, end2)],
        cameras=[cam],
    )
    type(cam).objects.filter(pk=cam.pk).update(active=False)
    client = client_for(users[Role.APPLICANT])
    form = client.get(f"/deployments/{deployment.pk}/edit/").context["form"]
    shown = form.initial["windows"].replace("\n", "\r\n") + "\r\n \r\n"  # as a browser sends a textarea
    data = {**_form_data(camera_units=[cam.pk]), "windows": shown, "title": "A clearer title"}

    response = client.post(f"/deployments/{deployment.pk}/edit/", data)

    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.title == "A clearer title" and deployment.status == DeploymentStatus.AUTHORISED
    assert deployment.windows.order_by("start").first().start == start + datetime.timedelta(seconds=30)
    assert list(deployment.camera_units.values_list("pk", flat=True)) == [cam.pk]


def test_a_saved_window_in_the_repeated_autumn_hour_does_not_block_other_edits(users, client_for):
    """01:30 on the night the clocks go back cannot be typed (it happens twice), but a window saved through the
    API may start then: editing the title must not make the applicant re-enter it."""
    first_0130 = datetime.datetime(2027, 10, 31, 0, 30, tzinfo=datetime.UTC)  # 01:30 BST, the first of two
    deployment = h.draft(users[Role.APPLICANT], window_list=[(first_0130, first_0130 + datetime.timedelta(hours=4))])
    client = client_for(users[Role.APPLICANT])
    form = client.get(f"/deployments/{deployment.pk}/edit/").context["form"]

    response = client.post(
        f"/deployments/{deployment.pk}/edit/",
        {**_form_data(), "windows": form.initial["windows"], "title": "Renamed"},
    )

    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.title == "Renamed" and deployment.windows.get().start == first_0130


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2026-03-29 01:30 to 2026-03-29 05:00", "does not exist"),
        ("2026-10-25 01:30 to 2026-10-25 05:00", "happens twice that night"),
    ],
)
def test_a_window_at_a_time_the_clocks_skip_or_repeat_is_refused(users, client_for, line, message):
    response = client_for(users[Role.APPLICANT]).post("/deployments/new/", _form_data(windows=line))

    assert response.status_code == 200 and message in response.content.decode()
    assert not Deployment.objects.exists()


def test_a_window_across_the_autumn_change_is_measured_in_real_hours(settings):
    """00:00 to 12:00 on the night the clocks go back is 13 hours, over the 12-hour maximum."""
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    window = (
        datetime.datetime(2026, 10, 25, 0, 0, tzinfo=london),
        datetime.datetime(2026, 10, 25, 12, 0, tzinfo=london),
    )

    assert any("13.0 hours long" in e for e in svc.window_errors([window]))
    assert svc.window_errors([(window[0], window[1] - datetime.timedelta(hours=1))]) == []


def test_a_signs_removal_is_recorded_from_the_page_after_completion_though_placed_with_seconds(users, client_for):
    """The form shows times to the minute, so a placing time recorded through the API with seconds came back
    "changed": the removal became an edit, refused once the deployment completed."""
    applicant, ao = users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER]
    deployment = h.authorised(applicant, ao)
    placed = timezone.now().replace(second=37, microsecond=0) - datetime.timedelta(hours=2)
    record = svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Exit", sign_count=2, placed_at=placed
    )
    svc.deployment_close(actor=ao, deployment=deployment, reason="Operation over.")
    shown = timezone.localtime(placed).strftime("%Y-%m-%dT%H:%M")
    removed = timezone.localtime(timezone.now() - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")

    response = client_for(applicant).post(
        f"/deployments/{deployment.pk}/signage/{record.pk}/",
        {"position_description": "Exit", "sign_count": "2", "placed_at": shown, "removed_at": removed},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    record.refresh_from_db()
    assert record.removed_at is not None and record.placed_at == placed  # the seconds are kept
