"""Several photos of one wanted person on the watch-list (entries with the same person reference).

The margin rule alerts only when the best match beats the runner-up by a margin. When the runner-up was simply the
next entry, a second photo of the same wanted person was the runner-up, 0.09 behind on these photos: the person
never alerted. The runner-up is now the nearest entry of another person. Repeated sightings of one person update one
alert whichever of their photos matched, and one person in a frame raises one alert.
"""
# ruff: noqa: F811  (fixtures are imported by name)

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from compliance.models import AuditEvent, Watchlist, WatchlistEntry
from compliance.selectors.watchlists import clear_gallery_cache, load_gallery
from lfr_portal.errors import RuleViolation
from matching.models import Alert
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.compliance import watchlist_helpers
from tests.compliance.watchlist_helpers import photo
from tests.matching.live_helpers import budget, build_live, face_jpeg, frame_store, jpeg, media, queued  # noqa: F401
from tests.shared_data import face_path

pytestmark = pytest.mark.django_db

OBAMA = "PNC 08/123456A"
MARGIN = {"alert_policy": "margin", "alert_margin": 0.15, "match_threshold": 0.6}
FACES = ("obama.jpg", "obama2.jpg", "biden.jpg")


def _match(live, session, data: bytes) -> str:
    frame_id = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=data, captured_at=timezone.now()
    ).frame_id
    return frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())


def _alerts_on_two_people(make_user, references: dict[str, str]) -> list[tuple[str, float, float | None]]:
    live = build_live(make_user, faces=FACES, references=references, **MARGIN)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    _match(live, session, face_jpeg("two_people.jpg"))
    files = {
        entry.pk: entry.reference_image.file_name for entry in WatchlistEntry.objects.select_related("reference_image")
    }
    return sorted((files[a.entry_id], a.distance, a.runner_up) for a in Alert.objects.filter(session=session))


def test_a_wanted_person_with_two_photos_alerts_under_the_margin_rule(make_user, media, budget, frame_store, queued):
    # The same reference, written with other spacing and case on the second photo.
    alerts = _alerts_on_two_people(
        make_user, {"obama.jpg": OBAMA, "obama2.jpg": " pnc 08/123456a ", "biden.jpg": "PNC 2"}
    )
    assert [name for name, _, _ in alerts] == ["biden.jpg", "obama.jpg"]
    _, distance, runner_up = alerts[1]
    assert distance == pytest.approx(0.34, abs=0.02)
    assert runner_up == pytest.approx(0.87, abs=0.02)  # Biden: the nearest other person, not Obama's second photo


def test_photos_under_different_references_are_different_people(make_user, media, budget, frame_store, queued):
    # Obama's two photos as two people: 0.34 against 0.43, under the margin of 0.15, so only Biden alerts.
    alerts = _alerts_on_two_people(make_user, {"obama.jpg": OBAMA, "obama2.jpg": "PNC 3", "biden.jpg": "PNC 2"})
    assert [name for name, _, _ in alerts] == ["biden.jpg"]


def test_the_loaded_gallery_groups_entries_by_person_reference(make_user, media, budget, frame_store, queued):
    live = build_live(make_user, faces=FACES, references={"obama.jpg": OBAMA, "obama2.jpg": f"  {OBAMA.lower()}"})
    clear_gallery_cache()
    gallery = load_gallery(live.deployment.pk).gallery
    names = dict(WatchlistEntry.objects.values_list("pk", "reference_image__file_name"))
    label = {names[entry_id]: int(person) for entry_id, person in zip(gallery.ids, gallery.persons, strict=True)}
    assert label["obama.jpg"] == label["obama2.jpg"] != label["biden.jpg"]


def _file_names() -> dict[int, str]:
    return dict(WatchlistEntry.objects.values_list("pk", "reference_image__file_name"))


def test_sightings_of_either_photo_of_one_person_update_one_alert(make_user, media, budget, frame_store, queued):
    live = build_live(make_user, faces=FACES, references={"obama.jpg": OBAMA, "obama2.jpg": OBAMA})
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)

    # Obama in the two-person photo: 0.34 from his first photo, 0.43 from his second (Biden alerts apart).
    assert _match(live, session, face_jpeg("two_people.jpg")) == "alert"
    assert _match(live, session, face_jpeg("obama2.jpg")) == "alert"  # nearest his second photo, and far closer

    names = _file_names()
    (alert,) = [a for a in Alert.objects.filter(session=session) if names[a.entry_id] != "biden.jpg"]
    assert (names[alert.entry_id], alert.sighting_count) == ("obama.jpg", 2)
    sighted = AuditEvent.objects.get(action="alert.sighted", target_id=str(alert.pk))
    assert names[sighted.after["entry_id"]] == "obama2.jpg" and sighted.after["distance"] < alert.distance
    # The crop stays the first one, though the second sighting was closer: the reviewer compares the crop with the
    # alert's own entry, the first photo, and the second sighting's likeness is to the other photo.
    assert not AuditEvent.objects.filter(action="alert.probe_replaced").exists()


def test_one_person_twice_in_a_frame_raises_one_alert_on_the_closer_face(make_user, media, budget, frame_store, queued):
    live = build_live(make_user, faces=FACES, references={"obama.jpg": OBAMA, "obama2.jpg": OBAMA})
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    # Both photos side by side: each face is nearest to its own entry, and both are Obama.
    left, right = (Image.open(face_path(name)).convert("RGB") for name in ("obama.jpg", "obama2.jpg"))
    frame = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), (128, 128, 128))
    frame.paste(left, (0, 0))
    frame.paste(right, (left.width, 0))

    assert _match(live, session, jpeg(frame)) == "alert"

    assert Alert.objects.filter(session=session).count() == 1
    session.refresh_from_db()
    assert (session.faces_seen, session.alerts_raised) == (2, 1)


def test_only_entered_references_group_images_not_file_names(make_user, media, budget, frame_store, queued):
    # Two people uploaded in one zip as a/front.jpg and b/front.jpg: both references are "front", taken from the
    # file name; that says nothing about who they are, so they stay two people.
    archive = watchlist_helpers.make_zip({"a/front.jpg": photo("obama.jpg"), "b/front.jpg": photo("biden.jpg")})
    live = build_live(make_user, faces=(), upload=[("people.zip", archive)])
    assert sorted(WatchlistEntry.objects.values_list("reference_image__person_reference", flat=True)) == [
        "front",
        "front",
    ]
    clear_gallery_cache()

    assert load_gallery(live.deployment.pk).gallery.persons is None


def test_a_list_with_several_images_of_one_person_is_budgeted_as_the_threshold_rule(
    make_user, media, budget, frame_store, queued, client_for
):
    live = build_live(make_user, faces=FACES, references={"obama.jpg": OBAMA, "obama2.jpg": OBAMA}, **MARGIN)

    call = budget["calls"][-1]  # the approval's assessment
    assert (call["size"], call["policy"], call["margin"]) == (3, "threshold", 0.0)
    watchlist = Watchlist.objects.get()
    assert (watchlist.assessment["people"], watchlist.assessment["assessed_as"]) == (2, "threshold")
    assert "3 images show 2 people" in watchlist.assessment["message"]
    page = client_for(live.approver).get(reverse("watchlist_detail", args=[live.deployment.pk])).content.decode()
    assert "3 images show 2 people" in page and "upper bound" in page
    assert "The 3 images show 2 people: images with the same entered person reference are one person" in page


def test_a_list_of_distinct_people_is_budgeted_under_its_own_rule(
    make_user, media, budget, frame_store, queued, client_for
):
    live = build_live(make_user, faces=FACES, references={"obama.jpg": OBAMA, "obama2.jpg": "PNC 3"}, **MARGIN)

    call = budget["calls"][-1]
    assert (call["policy"], call["margin"]) == ("margin", 0.15)
    assert "assessed_as" not in Watchlist.objects.get().assessment
    page = client_for(live.approver).get(reverse("watchlist_detail", args=[live.deployment.pk])).content.decode()
    assert 'data-testid="people"' not in page and 'data-testid="assessed-as"' not in page


def test_an_over_budget_refusal_says_when_the_list_was_assessed_as_the_threshold_rule(
    make_user, media, budget, frame_store, queued
):
    budget["result"] = watchlist_helpers.FakeAssessment(budget_met=False, false_alerts_per_10k=3.0)
    with pytest.raises(RuleViolation) as refused:
        build_live(make_user, faces=FACES, references={"obama.jpg": OBAMA, "obama2.jpg": OBAMA}, **MARGIN)
    assert refused.value.code == "over_false_alert_budget"
    assert "3 images show 2 people" in refused.value.message and "threshold rule" in refused.value.message
