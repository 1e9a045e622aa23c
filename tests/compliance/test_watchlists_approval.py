"""Approval and freeze, the gate, the matcher's loader, key rotation and destruction (domain.md 2.3, 3, 6, 9)."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import datetime
import hashlib
import io
import re

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time

from compliance import biometric_store, gates, transparency
from compliance.choices import Rank, WatchlistCategory
from compliance.crypto import reset_keys
from compliance.models import (
    AuditEvent,
    Deployment,
    EnrolmentBatch,
    EnrolmentItem,
    ReferenceImage,
    Watchlist,
    WatchlistEntry,
)
from compliance.models.watchlists import WatchlistStatus
from compliance.selectors import watchlists as sel
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as svc
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from tests.a11y import missing_described_by_targets
from tests.compliance.watchlist_helpers import (  # noqa: F401  (fixtures)
    OVER_BUDGET,
    TEST_KEY,
    UNCALIBRATED,
    FakeAssessment,
    budget,
    cast,
    enrol,
    media,
    photo,
)

pytestmark = pytest.mark.django_db

NEW_KEY = "bmV3LXJvdGF0ZWQta2V5LTAwMDAwMDAwMDAwMDAwMDA="


@pytest.fixture
def compiled(cast):
    enrol(
        cast.compiler,
        cast.deployment,
        [("PNC-1.jpg", photo("obama.jpg")), ("PNC-2.png", photo("lin-manuel-miranda.png"))],
    )
    return cast


def approve(cast, **kwargs):
    return svc.watchlist_approve(actor=cast.approver, deployment=cast.deployment, **kwargs)


def test_approval_freezes_the_content_with_a_hash_and_records_the_assessment(compiled, budget):
    watchlist = approve(compiled)

    assert watchlist.status == WatchlistStatus.APPROVED
    assert watchlist.approved_by == compiled.approver and watchlist.approved_size == 2
    assert len(watchlist.content_hash) == 64
    assert watchlist.assessment["false_alerts_per_10k"] == 0.5 and watchlist.assessment["expected_tpir"] == 0.91
    assert budget["calls"] == [{"size": 2, "threshold": 0.5, "policy": "threshold", "margin": 0.0}]
    event = AuditEvent.objects.get(action="watchlist.approved")
    assert event.after["content_hash"] == watchlist.content_hash and event.after["counts"] == {"wanted_by_courts": 2}


def test_summary_shows_size_counts_flags_and_expected_performance(compiled, budget):
    summary = sel.watchlist_summary(user=compiled.approver, deployment_id=compiled.deployment.pk)

    assert summary.size == 2 and summary.counts == {WatchlistCategory.WANTED_BY_COURTS: 2}
    assert summary.assessment["false_alerts_per_10k"] == 0.5 and summary.assessment["expected_tpir"] == 0.91
    assert summary.flagged == []
    assert compiled.compiler.pk in summary.compiler_ids


def test_the_compiler_can_never_approve(compiled, budget, make_user, appoint):
    # The compiler is promoted to AO: still may not approve the list they compiled (separation of duties).
    promoted = _promoted_to_ao(compiled.compiler, make_user, appoint)
    with pytest.raises(NotPermitted) as refused:
        svc.watchlist_approve(actor=promoted, deployment=compiled.deployment)
    assert refused.value.code == "compiled_by_you"


@pytest.mark.parametrize("change", ["update", "remove"])
def test_whoever_changed_or_removed_an_entry_can_never_approve(compiled, budget, make_user, appoint, change):
    # A second compiler only edits (or removes) an entry, and is then promoted to AO: they shaped the list, so
    # another AO must approve it, even though they enrolled nothing and a removed entry leaves no row.
    editor = make_user("watchlist_compiler", username=f"editor-{change}")
    entry = WatchlistEntry.objects.order_by("pk").first()
    if change == "update":
        svc.watchlist_entry_update(actor=editor, entry=entry, offence_or_reason="Corrected by a colleague")
    else:
        svc.watchlist_entry_remove(actor=editor, entry=entry, reason="Arrested.")
    promoted = _promoted_to_ao(editor, make_user, appoint)

    summary = sel.watchlist_summary(user=promoted, deployment_id=compiled.deployment.pk)
    assert promoted.pk in summary.compiler_ids  # the page tells them and offers no approval
    with pytest.raises(NotPermitted) as refused:
        svc.watchlist_approve(actor=promoted, deployment=compiled.deployment)
    assert refused.value.code == "compiled_by_you"
    assert approve(compiled).status == WatchlistStatus.APPROVED  # an uninvolved AO still can


def _promoted_to_ao(user, make_user, appoint):
    from compliance.services import accounts

    # The rank first: raising an Authorising Officer to the authorising rank is itself an appointment.
    ranked = accounts.user_change_rank(actor=make_user("administrator"), user=user, rank=Rank.SUPERINTENDENT)
    return appoint(ranked, "authorising_officer")


def test_a_contributor_stays_barred_once_the_audit_events_of_their_change_are_pruned(
    compiled, budget, make_user, appoint, settings, tmp_path
):
    from compliance import audit

    # The audit log is pruned after six years; a removed entry leaves no row. The list itself remembers.
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    editor = make_user("watchlist_compiler", username="editor-pruned")
    svc.watchlist_entry_remove(actor=editor, entry=WatchlistEntry.objects.order_by("pk").first(), reason="Arrested.")
    audit.prune_through(AuditEvent.objects.order_by("-seq").first().seq, cutoff=timezone.now())
    assert not AuditEvent.objects.filter(action="watchlist.entry_removed").exists()
    promoted = _promoted_to_ao(editor, make_user, appoint)

    assert promoted.pk in sel.watchlist_summary(user=promoted, deployment_id=compiled.deployment.pk).compiler_ids
    with pytest.raises(NotPermitted) as refused:
        svc.watchlist_approve(actor=promoted, deployment=compiled.deployment)
    assert refused.value.code == "compiled_by_you"


def test_the_migration_takes_earlier_contributors_from_the_audit_log(compiled, make_user):
    import importlib

    from django.apps import apps

    # Lists changed before contributors were recorded on the list: the audit log was the only record.
    migration = importlib.import_module("compliance.migrations.0007_watchlist_contributors")
    editor = make_user("watchlist_compiler", username="editor-before")
    svc.watchlist_entry_update(
        actor=editor, entry=WatchlistEntry.objects.order_by("pk").first(), offence_or_reason="Corrected"
    )
    watchlist = Watchlist.objects.get(deployment=compiled.deployment)
    watchlist.contributors.clear()

    migration.contributors_from_the_audit_log(apps, None)

    assert editor in watchlist.contributors.all()


def test_the_applicant_can_never_approve_the_watch_list(compiled, budget, make_user, appoint):
    promoted = _promoted_to_ao(compiled.applicant, make_user, appoint)
    with pytest.raises(NotPermitted) as refused:
        svc.watchlist_approve(actor=promoted, deployment=compiled.deployment, acknowledgement="ok")
    assert refused.value.code == "own_application"


def test_an_authorising_officer_below_the_minimum_rank_cannot_approve(compiled, budget, make_user):
    junior = make_user("authorising_officer", username="ch-insp", rank=Rank.CHIEF_INSPECTOR)
    with pytest.raises(NotPermitted) as refused:
        svc.watchlist_approve(actor=junior, deployment=compiled.deployment, acknowledgement="ok")
    assert refused.value.code == "rank_too_low"
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.DRAFT


def test_only_an_authorising_officer_may_approve(compiled, budget, make_user):
    for role in ("watchlist_compiler", "dpo", "applicant"):
        # Of authorising rank and neither compiler nor applicant, so only the role rule can refuse them.
        senior = make_user(role, rank=Rank.CHIEF_SUPERINTENDENT)
        with pytest.raises(NotPermitted) as refused:
            svc.watchlist_approve(actor=senior, deployment=compiled.deployment)
        assert refused.value.code == "wrong_role"


def test_approval_refused_over_the_false_alert_budget(compiled, budget):
    budget["result"] = OVER_BUDGET
    with pytest.raises(RuleViolation) as refused:
        approve(compiled, acknowledgement="I accept anything")
    assert refused.value.code == "over_false_alert_budget"
    assert "8.00 false alerts per 10,000" in refused.value.message
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.DRAFT


def test_approval_refused_when_the_calibration_cannot_bound_the_rate(compiled, budget):
    budget["result"] = FakeAssessment(how="extrapolated", budget_met=None, message="Outside the measured grid.")
    with pytest.raises(RuleViolation) as refused:
        approve(compiled, acknowledgement="ignored when calibrated")
    assert refused.value.code == "budget_unknown"


def test_real_budget_function_without_calibration_needs_an_acknowledgement(compiled):
    """No stub: matching.budget.expected_performance with no active calibration answers 'uncalibrated'."""
    with pytest.raises(RuleViolation) as refused:
        approve(compiled)
    assert refused.value.code == "acknowledgement_required"
    watchlist = approve(compiled, acknowledgement="Uncalibrated; accepted for a two-person list.")
    assert watchlist.assessment["how"] == "uncalibrated" and watchlist.assessment["calibrated"] is False


def test_uncalibrated_matcher_needs_a_recorded_acknowledgement(compiled, budget):
    budget["result"] = UNCALIBRATED
    with pytest.raises(RuleViolation) as refused:
        approve(compiled)
    assert refused.value.code == "acknowledgement_required"

    watchlist = approve(compiled, acknowledgement="No calibration yet; small list, threshold 0.5, human review.")
    assert watchlist.status == WatchlistStatus.APPROVED
    assert watchlist.acknowledgement.startswith("No calibration yet")
    assert AuditEvent.objects.get(action="watchlist.approved").after["acknowledgement"].startswith("No calibration")


def test_approval_refused_while_enrolment_runs_or_when_empty(cast, budget):
    with pytest.raises(RuleViolation):
        approve(cast)
    from tests.compliance.watchlist_helpers import upload

    upload(cast.compiler, cast.deployment, [("a.jpg", photo("obama.jpg"))])
    with pytest.raises(InvalidTransition):
        approve(cast)


def test_any_change_after_approval_unapproves_and_is_audited(compiled, budget):
    approve(compiled)
    entry = WatchlistEntry.objects.first()

    svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, offence_or_reason="Robbery, warrant 999/24")

    watchlist = Watchlist.objects.get(deployment=compiled.deployment)
    assert watchlist.status == WatchlistStatus.DRAFT
    event = AuditEvent.objects.get(action="watchlist.unapproved")
    assert event.after["change"] == "entry_updated" and event.before["status"] == "approved"

    approve(compiled)
    svc.watchlist_entry_remove(actor=compiled.compiler, entry=entry, reason="Arrested yesterday.")
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.DRAFT
    assert AuditEvent.objects.filter(action="watchlist.unapproved").count() == 2


def test_entry_update_keeps_the_category_rules(compiled):
    entry = WatchlistEntry.objects.first()
    with pytest.raises(RuleViolation):
        svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, category=WatchlistCategory.RISK_OF_HARM)
    with pytest.raises(RuleViolation):
        svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, justification="  ")


# --- the gate -------------------------------------------------------------------------------------------------


def test_gate_passes_only_for_a_fresh_unchanged_approval_after_authorisation(compiled, budget):
    deployment = compiled.deployment
    ok, reason = sel.watchlist_gate(deployment, timezone.now())
    assert not ok and "not approved" in reason

    watchlist = approve(compiled)
    ok, reason = sel.watchlist_gate(deployment, timezone.now())
    assert ok, reason
    stale = watchlist.approved_at + datetime.timedelta(hours=25)
    ok, reason = sel.watchlist_gate(deployment, stale)
    assert not ok and "older than 24 hours" in reason

    # A fresh authorisation makes the old approval stale.
    deployment.authorised_at = watchlist.approved_at + datetime.timedelta(seconds=1)
    ok, reason = sel.watchlist_gate(deployment, timezone.now())
    assert not ok and "before the latest authorisation" in reason


def test_gate_is_registered_with_the_deployment_gates(compiled, budget):
    approve(compiled)
    report = gates.deployment_gates(compiled.deployment, at=timezone.now())
    watchlist_gate = next(g for g in report.gates if g.name == "watchlist")
    assert watchlist_gate.passed, watchlist_gate.reason


def test_published_size_survives_destruction(compiled, budget, django_capture_on_commit_callbacks):
    approve(compiled)
    assert transparency.watchlist_size(compiled.deployment) == 2
    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_destroy(deployment=compiled.deployment, reason="test")
    assert transparency.watchlist_size(compiled.deployment) == 2


# --- the matcher's loader -------------------------------------------------------------------------------------


def test_load_gallery_returns_the_decrypted_float32_matrix(compiled, budget):
    watchlist = approve(compiled)

    loaded = sel.load_gallery(compiled.deployment.pk)

    assert loaded.size == 2 and loaded.watchlist_id == watchlist.pk and loaded.content_hash == watchlist.content_hash
    assert loaded.gallery.matrix.dtype == np.float32 and loaded.gallery.matrix.shape == (2, 128)
    assert list(loaded.gallery.ids) == list(WatchlistEntry.objects.order_by("id").values_list("pk", flat=True))


def test_load_gallery_refuses_an_unapproved_watchlist(compiled):
    with pytest.raises(sel.WatchlistNotApproved):
        sel.load_gallery(compiled.deployment.pk)


def test_load_gallery_refuses_altered_encoding_bytes(compiled, budget):
    approve(compiled)
    entry = WatchlistEntry.objects.first()
    raw = bytearray(bytes(entry.encoding))
    raw[60] ^= 0x01
    WatchlistEntry.objects.filter(pk=entry.pk).update(encoding=bytes(raw))  # tampering behind the services

    with pytest.raises(sel.WatchlistTampered):
        sel.load_gallery(compiled.deployment.pk)
    ok, reason = sel.watchlist_gate(compiled.deployment, timezone.now())
    assert not ok and "altered" in reason


def test_load_gallery_refuses_swapped_encodings_and_changed_metadata(compiled, budget):
    approve(compiled)
    first, second = WatchlistEntry.objects.order_by("id")
    WatchlistEntry.objects.filter(pk=first.pk).update(encoding=bytes(second.encoding))
    with pytest.raises(sel.WatchlistTampered):
        sel.load_gallery(compiled.deployment.pk)

    WatchlistEntry.objects.filter(pk=first.pk).update(encoding=bytes(first.encoding))
    WatchlistEntry.objects.filter(pk=first.pk).update(category=WatchlistCategory.WANTED_ON_SUSPICION)
    with pytest.raises(sel.WatchlistTampered):
        sel.load_gallery(compiled.deployment.pk)


def test_load_gallery_is_cached_with_one_query_and_invalidated_by_a_change(compiled, budget, django_assert_num_queries):
    approve(compiled)
    first = sel.load_gallery(compiled.deployment.pk)
    with django_assert_num_queries(1):
        again = sel.load_gallery(compiled.deployment.pk)
    assert again is first

    svc.watchlist_entry_remove(actor=compiled.compiler, entry=WatchlistEntry.objects.first(), reason="Arrested.")
    with pytest.raises(sel.WatchlistNotApproved):
        sel.load_gallery(compiled.deployment.pk)
    approve(compiled)
    reloaded = sel.load_gallery(compiled.deployment.pk)
    assert reloaded is not first and reloaded.size == 1


def test_entry_reference_image_returns_the_decrypted_image(compiled):
    entry = WatchlistEntry.objects.get(reference_image__person_reference="PNC-1")
    data, content_type = sel.entry_reference_image(entry.pk)
    assert data == photo("obama.jpg") and content_type == "image/jpeg"


# --- key rotation ---------------------------------------------------------------------------------------------


def test_rotate_encoding_key_reencrypts_everything_without_loss(compiled, budget, settings):
    watchlist = approve(compiled)
    before = sel.load_gallery(compiled.deployment.pk).gallery.matrix.copy()
    old_tokens = dict(WatchlistEntry.objects.values_list("pk", "encoding"))

    settings.LFR_ENCODING_KEYS = [NEW_KEY, TEST_KEY]
    reset_keys()
    call_command("rotate_encoding_key")

    settings.LFR_ENCODING_KEYS = [NEW_KEY]  # the old key is removed afterwards
    reset_keys()
    sel.clear_gallery_cache()
    after = sel.load_gallery(compiled.deployment.pk)
    assert np.array_equal(after.gallery.matrix, before)
    assert after.content_hash == watchlist.content_hash  # rotation is not a content change
    for pk, token in WatchlistEntry.objects.values_list("pk", "encoding"):
        assert bytes(token) != bytes(old_tokens[pk])
    for entry in WatchlistEntry.objects.select_related("reference_image"):
        assert sel.entry_reference_image(entry.pk)[0] in (photo("obama.jpg"), photo("lin-manuel-miranda.png"))
        assert biometric_store.read_decrypted(entry.reference_image.image_path)
    event = AuditEvent.objects.get(action="encryption.keys_rotated")
    assert event.after["encodings"] == 2 and event.after["watchlist_images"] == 2 and event.after["library_images"] == 2
    started = AuditEvent.objects.get(action="encryption.keys_rotation_started")
    assert started.seq < event.seq and started.after == {"keys": 2}


def test_a_key_rotation_that_dies_part_way_is_visible_in_the_audit_log(compiled, budget, settings, monkeypatch):
    """Each row is rewritten in its own transaction: a crash after some of them must not go unrecorded."""
    approve(compiled)
    settings.LFR_ENCODING_KEYS = [NEW_KEY, TEST_KEY]
    reset_keys()

    def crash(actor):
        raise OSError("disk full")

    monkeypatch.setattr(svc, "extra_rotators", [crash])
    with pytest.raises(OSError):
        svc.encryption_keys_rotate()

    assert AuditEvent.objects.filter(action="encryption.keys_rotation_started").exists()
    assert not AuditEvent.objects.filter(action="encryption.keys_rotated").exists()


# --- destruction ----------------------------------------------------------------------------------------------


def _nothing_left(deployment, media_root):
    entry_rows = WatchlistEntry.objects.filter(watchlist__deployment=deployment).count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM compliance_watchlistentry e JOIN compliance_watchlist w ON e.watchlist_id = w.id "
            "WHERE w.deployment_id = %s",
            [deployment.pk],
        )
        raw_rows = cursor.fetchone()[0]
    folder = media_root / "watchlists" / str(deployment.pk)
    return (
        entry_rows == 0
        and raw_rows == 0
        and not EnrolmentBatch.objects.filter(watchlist__deployment=deployment).exists()
        and not EnrolmentItem.objects.filter(batch__watchlist__deployment=deployment).exists()
        and not folder.exists()
    )


def test_destruction_leaves_nothing_behind_and_audits_counts_and_hashes(
    compiled, budget, media, django_capture_on_commit_callbacks
):
    watchlist = approve(compiled)
    sel.load_gallery(compiled.deployment.pk)
    assert any((media / "watchlists" / str(compiled.deployment.pk)).rglob("*.bin"))
    assert watchlist.contributors.exists()

    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_destroy(deployment=compiled.deployment, reason="Deployment completed.")

    assert _nothing_left(compiled.deployment, media)
    watchlist.refresh_from_db()
    assert watchlist.status == WatchlistStatus.DESTROYED and watchlist.destroyed_entry_count == 2
    assert watchlist.destruction_evidence["clean"] is True
    # Who compiled it mattered only while it could be approved; the audit log keeps that for its own term.
    assert not watchlist.contributors.exists() and watchlist.destruction_evidence["contributor_rows"] == 0
    destroyed = AuditEvent.objects.get(action="watchlist.destroyed")
    assert destroyed.after["entries"] == 2 and destroyed.after["counts"] == {"wanted_by_courts": 2}
    assert len(destroyed.after["entries_digest"]) == 64
    assert AuditEvent.objects.filter(action="watchlist.destruction_verified").exists()
    with pytest.raises(sel.WatchlistNotApproved):
        sel.load_gallery(compiled.deployment.pk)
    # The library keeps its own records; only the deployment's copies are destroyed.
    assert ReferenceImage.objects.count() == 2


def test_revocation_destroys_the_watchlist_at_once(compiled, budget, media, django_capture_on_commit_callbacks):
    approve(compiled)
    with django_capture_on_commit_callbacks(execute=True):
        deployment_services.deployment_revoke(actor=compiled.ao, deployment=compiled.deployment, reason="Withdrawn.")

    assert _nothing_left(compiled.deployment, media)
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.DESTROYED


def test_beat_destroys_completed_deployments_after_the_delay(
    compiled, budget, media, django_capture_on_commit_callbacks
):
    from compliance import tasks

    approve(compiled)
    deployment_services.deployment_close(actor=compiled.ao, deployment=compiled.deployment, reason="Done early.")
    compiled.deployment.refresh_from_db()

    assert tasks.destroy_due_watchlists.run() == 0  # not yet: 24 h delay
    assert WatchlistEntry.objects.count() == 2

    # Within 24 h: the run before the deadline destroys it, since the next one (5 minutes on) would be late.
    deadline = compiled.deployment.completed_at + datetime.timedelta(hours=24)
    with freeze_time(deadline - svc.DESTRUCTION_SWEEP - datetime.timedelta(minutes=1)):
        assert tasks.destroy_due_watchlists.run() == 0
    just_before = deadline - svc.DESTRUCTION_SWEEP + datetime.timedelta(minutes=1)
    with freeze_time(just_before), django_capture_on_commit_callbacks(execute=True):
        assert tasks.destroy_due_watchlists.run() == 1
    assert _nothing_left(compiled.deployment, media)


def test_destroy_is_idempotent_and_refused_to_compilers(compiled, django_capture_on_commit_callbacks):
    with pytest.raises(NotPermitted):
        svc.watchlist_destroy(actor=compiled.compiler, deployment=compiled.deployment, reason="x")
    deployment_services.deployment_close(actor=compiled.ao, deployment=compiled.deployment, reason="Done early.")
    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_destroy(actor=compiled.dpo, deployment=compiled.deployment, reason="Compliance.")
    svc.watchlist_destroy(actor=compiled.dpo, deployment=compiled.deployment, reason="Again.")
    assert AuditEvent.objects.filter(action="watchlist.destroyed").count() == 1
    with pytest.raises(InvalidTransition):
        enrol(compiled.compiler, compiled.deployment, [("a.jpg", photo("biden.jpg"))])


def test_the_approval_page_says_which_rule_refused_the_watch_list(compiled, budget, client_for):
    # The approval form has only an acknowledgement field: the size rule must still reach the approver.
    Deployment.objects.filter(pk=compiled.deployment.pk).update(watchlist_max_size=1)
    response = client_for(compiled.approver).post(
        f"/watchlists/{compiled.deployment.pk}/", {"form": "approve", "acknowledgement": ""}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The watch-list cannot be approved." in page
    assert "2 entries exceed the authorised maximum of 1." in page
    assert Watchlist.objects.get(deployment=compiled.deployment).status != WatchlistStatus.APPROVED


# --- the entry edit page ----------------------------------------------------------------------------------------


def edit_form(entry, **changes):
    """What the edit page posts: every editable field, and when the entry was read."""
    entry.refresh_from_db()
    return {
        **{name: getattr(entry, name) for name in svc.ENTRY_EDITABLE},
        "read_at": entry.updated_at.isoformat(),
        **changes,
    }


def test_the_compiler_edits_an_entry_on_its_page_and_an_approved_list_needs_approving_again(
    compiled, budget, client_for
):
    approve(compiled)
    entry = WatchlistEntry.objects.order_by("pk").first()
    client = client_for(compiled.compiler)
    url = f"/watchlists/entries/{entry.pk}/edit/"

    page = client.get(url)
    assert page.status_code == 200
    assert entry.offence_or_reason in page.content.decode()  # the form starts from the entry as it is
    assert "Saving a change un-approves it: any live session" in page.content.decode()
    # Only the categories the authorisation allows are offered.
    offered = set(re.findall(r'<option value="([a-z_]+)"', page.content.decode()))
    assert offered == set(compiled.deployment.watchlist_categories) | {entry.category}

    response = client.post(url, edit_form(entry, offence_or_reason="Robbery, warrant 999/24"), follow=True)
    assert response.redirect_chain[-1][0] == f"/watchlists/{compiled.deployment.pk}/"
    assert "must be approved again" in response.content.decode()
    entry.refresh_from_db()
    assert entry.offence_or_reason == "Robbery, warrant 999/24"
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.DRAFT
    event = AuditEvent.objects.get(action="watchlist.entry_updated")
    # Hashes, not the text about the person: the audit log outlives the watch-list (domain.md 3).
    text = "Robbery, warrant 999/24"
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert event.actor_id == compiled.compiler.pk
    assert event.after == {"offence_or_reason": {"sha256": sha, "length": len(text)}}
    assert "Robbery" not in str(event.before) + str(event.after)
    # The detail page links each entry to its edit page.
    assert url in client.get(f"/watchlists/{compiled.deployment.pk}/").content.decode()

    # Saving it unchanged says so, and neither audits nor un-approves anything.
    approve(compiled)
    response = client.post(url, edit_form(entry), follow=True)
    assert "Nothing changed." in response.content.decode()
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.APPROVED
    assert AuditEvent.objects.filter(action="watchlist.entry_updated").count() == 1


def test_the_entry_page_says_what_is_wrong_and_changes_nothing(compiled, client_for):
    entry = WatchlistEntry.objects.order_by("pk").first()
    before = (entry.category, entry.offence_or_reason, entry.justification)
    client = client_for(compiled.compiler)
    url = f"/watchlists/entries/{entry.pk}/edit/"
    fields = edit_form(entry)

    # A category the deployment did not authorise is not offered, and refused if posted anyway.
    response = client.post(url, {**fields, "category": WatchlistCategory.RISK_OF_HARM})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    # A blank justification: refused by the form, the message tied to its field.
    response = client.post(url, {**fields, "justification": "  "})
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert missing_described_by_targets(response.content.decode()) == []

    entry.refresh_from_db()
    assert (entry.category, entry.offence_or_reason, entry.justification) == before
    assert not AuditEvent.objects.filter(action="watchlist.entry_updated").exists()


def test_the_entry_page_asks_for_the_age_justification_of_an_old_image(compiled, client_for):
    entry = WatchlistEntry.objects.order_by("pk").first()
    ReferenceImage.objects.filter(pk=entry.reference_image_id).update(
        captured_on=datetime.date.today() - datetime.timedelta(days=365 * 8)
    )
    client = client_for(compiled.compiler)
    url = f"/watchlists/entries/{entry.pk}/edit/"
    assert "This image is older than" in client.get(url).content.decode()
    response = client.post(url, edit_form(entry, offence_or_reason="x", age_justification=""))
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    entry.refresh_from_db()
    assert entry.offence_or_reason != "x"


def test_the_entry_page_offers_no_form_once_the_list_cannot_change(compiled, client_for):
    entry = WatchlistEntry.objects.order_by("pk").first()
    Deployment.objects.filter(pk=compiled.deployment.pk).update(status="completed")
    page = client_for(compiled.compiler).get(f"/watchlists/entries/{entry.pk}/edit/").content.decode()
    assert "This watch-list can no longer change." in page and "Save the entry" not in page


def test_only_a_compiler_may_open_the_entry_page(compiled, client_for, make_user):
    entry = WatchlistEntry.objects.order_by("pk").first()
    url = f"/watchlists/entries/{entry.pk}/edit/"
    for other in (compiled.dpo, make_user("administrator"), compiled.applicant):
        assert client_for(other).get(url).status_code == 403
    approver = client_for(compiled.approver)
    assert approver.get(url).status_code == 403
    response = approver.post(url, edit_form(entry, offence_or_reason="x"))
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.offence_or_reason != "x"
    assert client_for(compiled.compiler).get("/watchlists/entries/999999/edit/").status_code == 404


def test_a_page_posting_line_breaks_as_crlf_is_no_change(compiled, budget, client_for):
    # Browsers send a textarea's line breaks as CRLF; the API stores LF. The same words are no change: the list
    # stays approved (a spurious un-approval would stop live sessions at the next gate check).
    entry = WatchlistEntry.objects.order_by("pk").first()
    svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, justification="Active warrant.\nSeen in town.")
    approve(compiled)
    entry.refresh_from_db()
    assert entry.justification == "Active warrant.\nSeen in town."
    fields = edit_form(entry)

    response = client_for(compiled.compiler).post(
        f"/watchlists/entries/{entry.pk}/edit/",
        {**fields, "justification": "Active warrant.\r\nSeen in town."},
        follow=True,
    )
    assert "Nothing changed." in response.content.decode()
    assert Watchlist.objects.get(deployment=compiled.deployment).status == WatchlistStatus.APPROVED
    assert AuditEvent.objects.filter(action="watchlist.entry_updated").count() == 1  # the set-up's own


def test_entry_text_is_stored_with_lf_line_breaks(compiled):
    entry = WatchlistEntry.objects.order_by("pk").first()
    svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, justification="  One.\r\nTwo.\rThree.  ")
    entry.refresh_from_db()
    assert entry.justification == "One.\nTwo.\nThree."


def test_a_save_never_undoes_a_colleagues_change_made_since_the_page_was_opened(compiled, client_for, make_user):
    entry = WatchlistEntry.objects.order_by("pk").first()
    url = f"/watchlists/entries/{entry.pk}/edit/"
    opened = edit_form(entry)  # compiler A opens the page
    colleague = make_user("watchlist_compiler", username="colleague")
    svc.watchlist_entry_update(actor=colleague, entry=entry, offence_or_reason="Corrected: warrant 77/26")

    response = client_for(compiled.compiler).post(url, {**opened, "justification": "A's new justification"})
    page = response.content.decode()
    assert response.status_code == 409 and "Someone changed this entry after you opened it" in page
    assert "Corrected: warrant 77/26" in page  # the form now shows the entry as it is
    entry.refresh_from_db()
    assert entry.offence_or_reason == "Corrected: warrant 77/26" and entry.justification != "A's new justification"
    assert AuditEvent.objects.filter(action="watchlist.entry_updated").count() == 1  # the colleague's only

    # Saved again from the refreshed page, the change goes through.
    response = client_for(compiled.compiler).post(url, edit_form(entry, justification="A's new justification"))
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.offence_or_reason == "Corrected: warrant 77/26" and entry.justification == "A's new justification"

    # A stale page that changes nothing harms nothing: it is "Nothing changed", not a refusal.
    stale = {**edit_form(entry), "read_at": opened["read_at"]}
    response = client_for(compiled.compiler).post(url, stale, follow=True)
    assert "Nothing changed." in response.content.decode()


def test_an_update_writes_only_the_fields_it_changes(compiled):
    # Text stored before line breaks were normalised keeps its bytes unless it is itself edited, so every byte
    # that changes is in the audit record.
    entry = WatchlistEntry.objects.order_by("pk").first()
    WatchlistEntry.objects.filter(pk=entry.pk).update(justification="Old text.\r\nSecond line.")
    svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, offence_or_reason="Robbery, warrant 5/26")
    entry.refresh_from_db()
    assert entry.justification == "Old text.\r\nSecond line." and entry.offence_or_reason == "Robbery, warrant 5/26"
    event = AuditEvent.objects.get(action="watchlist.entry_updated")
    assert set(event.after) == {"offence_or_reason"}


def test_updating_an_entry_removed_meanwhile_says_so(compiled):
    from lfr_portal.errors import NotFound

    entry = WatchlistEntry.objects.order_by("pk").first()
    svc.watchlist_entry_remove(actor=compiled.compiler, entry=entry, reason="Arrested.")
    with pytest.raises(NotFound) as refused:
        svc.watchlist_entry_update(actor=compiled.compiler, entry=entry, offence_or_reason="x")
    assert refused.value.code == "entry_not_found"


def test_the_audit_pack_shows_a_watchlist_destroyed_on_revocation_and_its_check(
    compiled, budget, media, django_capture_on_commit_callbacks, make_user, monkeypatch
):
    """The destruction task and the revocation hook write watchlist.* events, not retention.*: the pack listed
    none of them ("No retention actions recorded yet") and never said whether the check after it was clean."""
    from pypdf import PdfReader

    from compliance import pdf_audit_pack

    approve(compiled)
    with django_capture_on_commit_callbacks(execute=True):
        deployment_services.deployment_revoke(actor=compiled.ao, deployment=compiled.deployment, reason="Withdrawn.")

    def text() -> str:
        pdf = pdf_audit_pack.audit_pack_pdf(Deployment.objects.get(pk=compiled.deployment.pk))
        return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())

    words = text()
    assert "watchlist.destroyed" in words and "watchlist.destruction_verified" in words
    assert "Destruction checked nothing left" in words
    monkeypatch.setattr(pdf_audit_pack, "EVIDENCE_LISTED", 1)
    assert "more events, not listed" in text()


def test_files_left_after_a_destruction_are_found_and_removed_by_the_next_run(
    compiled, budget, media, django_capture_on_commit_callbacks
):
    """The files go after the rows' commit: if the worker dies in between (here: the removal never ran), the
    rows are gone and the list marked destroyed, and no sweep used to look again."""
    from compliance import tasks
    from compliance.services import signage_photos

    approve(compiled)
    deployment_services.deployment_revoke(actor=compiled.ao, deployment=compiled.deployment, reason="Withdrawn.")
    svc.watchlist_destroy(actor=None, deployment=compiled.deployment, reason="revoked")  # on_commit never runs
    left = biometric_store.files_in(biometric_store.watchlist_folder(compiled.deployment.pk))
    assert left  # the encrypted images are still on disk
    stray = biometric_store.absolute(signage_photos.signage_folder(compiled.deployment.pk) + "/orphan.bin")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"encrypted photo")

    tasks.destroy_due_watchlists.run()  # a moment after the destruction: its own removal may still be running
    assert biometric_store.files_in(biometric_store.watchlist_folder(compiled.deployment.pk)) == left

    with freeze_time(timezone.now() + svc.RECONCILE_AFTER + datetime.timedelta(minutes=1)):
        tasks.destroy_due_watchlists.run()

    assert biometric_store.files_in(biometric_store.watchlist_folder(compiled.deployment.pk)) == []
    assert not stray.exists()
    evidence = Watchlist.objects.get(deployment=compiled.deployment).destruction_evidence
    assert evidence["clean"] is True, evidence
    assert AuditEvent.objects.filter(action="watchlist.destruction_verified", deployment_id=compiled.deployment.pk)


def test_a_destruction_that_cannot_finish_is_audited_once_and_named_in_the_pack(compiled, budget, media, monkeypatch):
    """A folder that cannot be removed is retried every run, but audited again only when what is left changes."""
    from compliance import pdf_audit_pack, tasks

    approve(compiled)
    deployment_services.deployment_revoke(actor=compiled.ao, deployment=compiled.deployment, reason="Withdrawn.")
    svc.watchlist_destroy(actor=None, deployment=compiled.deployment, reason="revoked")
    monkeypatch.setattr(biometric_store, "remove_folder", lambda folder: None)  # a read-only mount

    later = timezone.now() + svc.RECONCILE_AFTER + datetime.timedelta(minutes=1)
    for minutes in (0, 5, 10):
        with freeze_time(later + datetime.timedelta(minutes=minutes)):
            tasks.destroy_due_watchlists.run()

    incomplete = AuditEvent.objects.filter(
        action="watchlist.destruction_incomplete", deployment_id=compiled.deployment.pk
    )
    assert incomplete.count() == 1 and incomplete.get().after["files"] > 0
    watchlist = Watchlist.objects.get(deployment=compiled.deployment)
    assert pdf_audit_pack._destruction_check(watchlist).startswith("INCOMPLETE: files ")


def test_a_removal_reason_about_the_person_is_kept_as_a_hash_and_not_shown_on_the_timeline(
    compiled, client_for, django_capture_on_commit_callbacks
):
    """The reason went into the log word for word, and the deployment's timeline showed it to the applicant and the
    team long after the watch-list was destroyed (domain.md 3: only counts and hashes remain)."""
    entry = WatchlistEntry.objects.order_by("pk").first()
    reason = "John Q Public arrested 3 May at his home address"
    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_entry_remove(actor=compiled.compiler, entry=entry, reason=reason)

    event = AuditEvent.objects.get(action="watchlist.entry_removed")
    assert event.after["reason_digest"] == {
        "sha256": hashlib.sha256(reason.encode()).hexdigest(),
        "length": len(reason),
    }
    assert "John Q Public" not in str(event.before) + str(event.after)
    applicant = compiled.deployment.applicant
    page = client_for(applicant).get(f"/deployments/{compiled.deployment.pk}/").content.decode()
    assert "watchlist.entry_removed" in page and "John Q Public" not in page


def test_removing_an_entry_checks_its_image_file_is_gone(compiled, django_capture_on_commit_callbacks, monkeypatch):
    """Every deletion is audited and verified (domain.md 6): the entry's image file was unlinked unchecked."""
    entry = WatchlistEntry.objects.order_by("pk").first()
    path = entry.image_path
    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_entry_remove(actor=compiled.compiler, entry=entry, reason="Arrested.")
    assert not biometric_store.absolute(path).exists()
    verified = AuditEvent.objects.get(action="watchlist.entry_removal_verified")
    assert verified.target_id == str(entry.pk) and verified.deployment_id == compiled.deployment.pk

    stuck = WatchlistEntry.objects.order_by("pk").first()
    monkeypatch.setattr(biometric_store, "remove", lambda path: None)  # the unlink silently fails
    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_entry_remove(actor=compiled.compiler, entry=stuck, reason="Arrested.")
    incomplete = AuditEvent.objects.get(action="watchlist.entry_removal_incomplete")
    assert incomplete.after == {"file_gone": False}
