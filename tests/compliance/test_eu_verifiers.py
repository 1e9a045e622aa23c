"""EU AI Act Art. 12(3)(d): the log names every natural person involved in verifying a match, whatever they decided
(a dismissal included), in the order they decided, once each; the audit pack prints the same list."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from compliance.models import EuAiActRecord
from compliance.services import eu_ai_act as eu
from matching.models import Alert
from matching.services import alerts as alert_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.compliance.watchlist_helpers import budget, media  # noqa: F401  (fixtures of `live`)
from tests.matching.live_helpers import face_jpeg, frame_store, live, queued  # noqa: F401

pytestmark = pytest.mark.django_db


def _raise_alerts(live, n: int) -> list[Alert]:  # noqa: F811
    """`n` separate alerts, raised by the matcher under the UK pack (the EU gate needs an authority's grant)."""
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    alerts = []
    for _ in range(n):
        accepted = frame_services.frame_submit(
            actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
        )
        frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
        alert = Alert.objects.order_by("-id").first()
        # Out of the repeat interval, so the next sighting is an alert of its own.
        Alert.objects.filter(pk=alert.pk).update(last_seen_at=alert.last_seen_at - timezone.timedelta(minutes=5))
        alerts.append(alert)
    assert len({a.pk for a in alerts}) == n
    return alerts


@pytest.fixture
def eu_alerts(live, settings):  # noqa: F811
    alerts = _raise_alerts(live, 3)
    settings.LFR_JURISDICTION = "eu"
    return alerts


def _verifiers(live) -> dict[int, list[str]]:  # noqa: F811
    return {m["alert_id"]: m["verifiers"] for m in eu.article_12_log(live.deployment)["matches"]}


def test_an_operator_who_dismissed_an_alert_is_named_as_its_verifier(live, eu_alerts):  # noqa: F811
    alert = eu_alerts[0]
    alert_services.alert_dismiss(actor=live.operator, alert=alert)

    assert _verifiers(live)[alert.pk] == [live.operator.username]


def test_a_second_verifier_who_dismissed_after_the_first_verification_is_named_after_the_first(
    live,  # noqa: F811
    eu_alerts,
):
    alert = eu_alerts[0]
    verifying = alert_services.alert_refer(actor=live.operator, alert=alert)
    alert_services.alert_dismiss(actor=live.operator2, alert=verifying)

    assert _verifiers(live)[alert.pk] == [live.operator.username, live.operator2.username]


def test_every_person_who_decided_is_named_once_in_decision_order(live, eu_alerts):  # noqa: F811
    engaged, untouched = eu_alerts[0], eu_alerts[1]
    alert_services.alert_refer(actor=live.operator2, alert=engaged)
    alert_services.alert_refer(actor=live.operator, alert=engaged)
    alert_services.alert_record_engagement(
        actor=live.engagement, alert=engaged, located=True, identity_confirmed=True, outcome="arrest"
    )

    verifiers = _verifiers(live)
    assert verifiers[engaged.pk] == [live.operator2.username, live.operator.username, live.engagement.username]
    assert verifiers[untouched.pk] == []


def test_the_log_reads_the_verifiers_of_every_alert_in_a_fixed_number_of_queries(live, eu_alerts):  # noqa: F811
    alert_services.alert_dismiss(actor=live.operator, alert=eu_alerts[0])
    with CaptureQueriesContext(connection) as one:
        eu.article_12_log(live.deployment)
    for alert in eu_alerts[1:]:
        verifying = alert_services.alert_refer(actor=live.operator, alert=alert)
        alert_services.alert_dismiss(actor=live.operator2, alert=verifying)
    with CaptureQueriesContext(connection) as three:
        log = eu.article_12_log(live.deployment)

    assert sum(len(m["verifiers"]) for m in log["matches"]) == 5
    assert len(three.captured_queries) == len(one.captured_queries)


def test_the_audit_pack_prints_the_same_verifiers(live, eu_alerts):  # noqa: F811
    from compliance.pdf_audit_pack import audit_pack_pdf

    EuAiActRecord.objects.create(deployment=live.deployment, objective="victim_search")
    alert = eu_alerts[0]
    verifying = alert_services.alert_refer(actor=live.operator, alert=alert)
    alert_services.alert_dismiss(actor=live.operator2, alert=verifying)

    pdf = audit_pack_pdf(live.deployment)

    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    assert f"{live.operator.username}, {live.operator2.username}" in text
