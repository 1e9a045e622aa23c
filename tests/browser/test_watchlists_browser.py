"""In Chromium: a compiler uploads a zip, watches the progress bar, then reads the per-file report.
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

No Celery worker runs here: the upload's dispatch is replaced by a thread that waits a moment (so the page
shows the running state) and then calls the same service the worker task calls, enrolment_batch_process.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from compliance.choices import Role
from compliance.services import watchlists as svc
from tests.browser.conftest import sign_in
from tests.compliance import deployment_helpers
from tests.compliance.watchlist_helpers import make_zip, media, photo  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compiler_uploads_a_zip_and_sees_progress_then_the_report(page, make_user, media, monkeypatch):  # noqa: F811
    applicant, ao = make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER)
    compiler = make_user(Role.WATCHLIST_COMPILER, username="compiler-browser")
    deployment = deployment_helpers.authorised(applicant, ao)
    workers: list[threading.Thread] = []

    def run_later(batch_id: int) -> None:
        def work() -> None:
            time.sleep(2)
            try:
                svc.enrolment_batch_process(batch_id=batch_id)
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        workers.append(thread)
        thread.start()

    monkeypatch.setattr(svc, "_dispatch", run_later)
    archive = make_zip({"PNC-1.jpg": photo("obama.jpg"), "group.jpg": photo("two_people.jpg"), "notes.txt": b"x"})

    sign_in(page, compiler)
    page.goto(f"/watchlists/{deployment.pk}/")
    page.locator("input[name=files]").set_input_files(
        files=[{"name": "batch.zip", "mimeType": "application/zip", "buffer": archive}]
    )
    page.locator("select[name=category]").select_option("wanted_by_courts")
    page.locator("[name=offence_or_reason]").fill("Failed to appear: robbery")
    page.locator("[name=justification]").fill("Active warrants; intelligence places them here.")
    page.locator("[name=legal_basis]").fill("Custody images held under PACE s.64A")
    page.locator("select[name=source]").select_option("custody")
    page.locator("[name=captured_on]").fill("2025-01-15")
    page.get_by_role("button", name="Upload for enrolment").click()

    page.wait_for_url("**/watchlists/batches/**")
    assert page.locator("progress").is_visible()
    assert page.locator("[data-testid=batch-report]").count() == 0  # still running: no report yet
    report = page.locator("[data-testid=batch-report]")
    report.wait_for(timeout=60_000)  # appears without a reload, via data-poll-url
    text = report.inner_text()
    assert "1 enrolled, 2 refused" in text
    assert "PNC-1.jpg" in text and "group.jpg" in text and "multiple_faces" in text
    assert "notes.txt" in text and "not_an_image" in text
    assert page.locator("progress").get_attribute("value") == "100"
    for thread in workers:
        thread.join(timeout=30)


def test_compiler_corrects_an_entry_from_the_watch_list_page(page, make_user, media):  # noqa: F811
    from compliance.models import WatchlistEntry
    from tests.compliance.watchlist_helpers import enrol

    applicant, ao = make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER)
    compiler = make_user(Role.WATCHLIST_COMPILER, username="compiler-edit")
    deployment = deployment_helpers.authorised(applicant, ao)
    enrol(compiler, deployment, [("PNC-7.jpg", photo("obama.jpg"))])
    entry = WatchlistEntry.objects.get()

    sign_in(page, compiler)
    page.goto(f"/watchlists/{deployment.pk}/")
    page.get_by_role("link", name=f"Edit entry {entry.pk}").click()
    reason = page.get_by_label("Offence or reason")  # every field is reachable by its label
    assert reason.input_value() == entry.offence_or_reason
    reason.fill("Robbery, warrant 123/26")
    page.get_by_role("button", name="Save the entry").click()

    page.wait_for_url(f"**/watchlists/{deployment.pk}/")
    assert f"Entry {entry.pk} updated." in page.locator(".messages").inner_text()
    assert "Robbery, warrant 123/26" in page.get_by_role("table", name="Watch-list entries").inner_text()
