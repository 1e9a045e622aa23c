"""Application rules (domain.md 2.1): drafts may have gaps, submission may not; every error names field and rule."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance.choices import AlertPolicyKind, DeploymentStatus, OffenceType, Role
from compliance.models import AuditEvent, Deployment
from compliance.services import deployments as svc
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from tests.compliance import deployment_helpers as h

pytestmark = pytest.mark.django_db


def test_draft_may_have_gaps_and_gets_a_reference(users):
    deployment = svc.deployment_create(actor=users[Role.APPLICANT], title="Early idea")
    assert deployment.status == DeploymentStatus.DRAFT
    assert deployment.reference == f"LFR-{timezone.localdate().year}-{deployment.pk:04d}"
    event = AuditEvent.objects.get(action="deployment.created")
    assert event.deployment_id == deployment.pk


def test_only_applicants_draft(users):
    with pytest.raises(NotPermitted):
        svc.deployment_create(actor=users[Role.AUTHORISING_OFFICER], title="x")


def test_complete_application_submits(users):
    deployment = h.submitted(users[Role.APPLICANT])
    assert deployment.status == DeploymentStatus.SUBMITTED
    assert deployment.submitted_at is not None
    assert AuditEvent.objects.filter(action="deployment.submitted", deployment_id=deployment.pk).exists()


def test_submit_refuses_gaps_naming_each_field(users):
    deployment = svc.deployment_create(actor=users[Role.APPLICANT], title="Gappy")
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    details = exc.value.details
    for field in (
        "use_case",
        "objectives",
        "offence_types",
        "location_grounds",
        "windows",
        "watchlist_categories",
        "watchlist_max_size",
        "match_threshold",
        "dpia_reference",
        "eia_reference",
        "apd_reference",
        "public_notice_at",
        "standalone_attested",
        "camera_units",
    ):
        assert field in details, field
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.DRAFT


@pytest.mark.parametrize("field", ["dpia_reference", "dpia_version", "eia_reference", "apd_reference"])
def test_submit_refused_without_impact_assessment_reference(users, field):
    deployment = h.draft(users[Role.APPLICANT], **{field: ""})
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert list(exc.value.details) == [field]


def test_submit_refused_without_location_grounds(users):
    deployment = h.draft(users[Role.APPLICANT], location_grounds="")
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert "Bridges" in exc.value.details["location_grounds"][0]


def test_submit_refused_with_vague_location_grounds(users):
    deployment = h.draft(users[Role.APPLICANT], location_grounds="busy")
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert "specific" in exc.value.details["location_grounds"][0]


def test_other_offence_must_be_named(users):
    deployment = h.draft(users[Role.APPLICANT], offence_types=[OffenceType.OTHER_SERIOUS], other_offence="")
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert list(exc.value.details) == ["other_offence"]


def test_margin_policy_needs_a_margin(users):
    deployment = h.draft(users[Role.APPLICANT], alert_policy=AlertPolicyKind.MARGIN, alert_margin=0)
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert list(exc.value.details) == ["alert_margin"]


def test_closed_lists_refuse_unknown_values(users):
    with pytest.raises(RuleViolation) as exc:
        h.draft(users[Role.APPLICANT], watchlist_categories=["anyone_of_interest"], offence_types=["shoplifting"])
    assert set(exc.value.details) == {"watchlist_categories", "offence_types"}
    with pytest.raises(RuleViolation) as exc:
        h.draft(users[Role.APPLICANT], use_case="general_surveillance")
    assert set(exc.value.details) == {"use_case"}


def test_threshold_looser_than_policy_refused_even_in_a_draft(users, settings):
    settings.LFR_POLICY_THRESHOLD = 0.6
    with pytest.raises(RuleViolation) as exc:
        h.draft(users[Role.APPLICANT], match_threshold=0.65)
    assert "looser than the force policy" in exc.value.details["match_threshold"][0]
    assert h.draft(users[Role.APPLICANT], match_threshold=0.6).match_threshold == 0.6


def test_window_longer_than_maximum_refused(users, settings):
    settings.LFR_MAX_WINDOW_HOURS = 12
    start = h.first_start()
    with pytest.raises(RuleViolation) as exc:
        h.draft(users[Role.APPLICANT], window_list=[(start, start + datetime.timedelta(hours=12, minutes=1))])
    assert "maximum is 12 hours" in exc.value.details["windows"][0]
    h.draft(users[Role.APPLICANT], window_list=[(start, start + datetime.timedelta(hours=12))])


def test_overlapping_windows_refused(users):
    start = h.first_start()
    hour = datetime.timedelta(hours=1)
    with pytest.raises(RuleViolation) as exc:
        h.draft(users[Role.APPLICANT], window_list=[(start, start + 4 * hour), (start + 3 * hour, start + 6 * hour)])
    assert "overlap" in exc.value.details["windows"][0]
    # Half-open: one window may start exactly when the previous ends.
    h.draft(users[Role.APPLICANT], window_list=[(start, start + 4 * hour), (start + 4 * hour, start + 6 * hour)])


def test_window_ending_before_it_starts_refused(users):
    start = h.first_start()
    with pytest.raises(RuleViolation) as exc:
        h.draft(users[Role.APPLICANT], window_list=[(start, start)])
    assert "must end after it starts" in exc.value.details["windows"][0]


def test_windows_spanning_more_than_validity_refused_at_submit(users, settings):
    settings.LFR_MAX_VALIDITY_DAYS = 28
    start = h.first_start()
    late = start + datetime.timedelta(days=28)
    deployment = h.draft(
        users[Role.APPLICANT],
        window_list=[(start, start + datetime.timedelta(hours=2)), (late, late + datetime.timedelta(hours=2))],
    )
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert "28 days" in exc.value.details["windows"][0]


def test_window_already_ended_refused_at_submit(users):
    past = timezone.now() - datetime.timedelta(hours=5)
    deployment = h.draft(
        users[Role.APPLICANT],
        window_list=[(past, past + datetime.timedelta(hours=1))],
        public_notice_at=past - datetime.timedelta(days=2),
    )
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert "already ended" in exc.value.details["windows"][0]


def test_late_public_notice_needs_critical_threat_justification(users, settings):
    settings.LFR_PUBLIC_NOTICE_HOURS = 24
    start = h.first_start()
    late_notice = start - datetime.timedelta(hours=23)
    deployment = h.draft(users[Role.APPLICANT], public_notice_at=late_notice)
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert "critical-threat justification" in exc.value.details["public_notice_at"][0]
    svc.deployment_update(
        actor=users[Role.APPLICANT],
        deployment=deployment,
        critical_threat_justification="Credible threat to a state visit received this morning.",
    )
    assert svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment).status == "submitted"


def test_standalone_attestation_and_standalone_cameras_required(users):
    linked = h.camera("cctv-linked", standalone=False)
    deployment = h.draft(users[Role.APPLICANT], cameras=[linked], standalone_attested=False)
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)
    assert set(exc.value.details) == {"standalone_attested", "camera_units"}


def test_only_the_applicant_edits_and_submits(users, make_user):
    deployment = h.draft(users[Role.APPLICANT])
    other = make_user(Role.APPLICANT)
    with pytest.raises(NotPermitted):
        svc.deployment_update(actor=other, deployment=deployment, title="Mine now")
    with pytest.raises(NotPermitted):
        svc.deployment_submit(actor=other, deployment=deployment)


def test_submitting_twice_is_a_conflict(users):
    deployment = h.submitted(users[Role.APPLICANT])
    with pytest.raises(InvalidTransition):
        svc.deployment_submit(actor=users[Role.APPLICANT], deployment=deployment)


def test_update_is_audited_with_changed_fields_only(users):
    deployment = h.draft(users[Role.APPLICANT])
    svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, objectives="New objectives here.")
    event = AuditEvent.objects.get(action="deployment.updated")
    assert set(event.after) == {"objectives"}
    assert event.deployment_id == deployment.pk


def test_unknown_field_refused(users):
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_create(actor=users[Role.APPLICANT], title="x", status="authorised")
    assert "status" in exc.value.details
