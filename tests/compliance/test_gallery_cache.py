"""The per-process cache of decrypted galleries (domain.md 6: nothing of deleted data may remain in a cache).

Entries unused for LFR_GALLERY_CACHE_IDLE_SECONDS are evicted on access and by a sweeper thread, so a worker that
never matches for a deployment again still drops its decrypted watch-list.
"""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import threading

import pytest

from compliance.models import WatchlistEntry
from compliance.selectors import watchlists as sel
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as svc
from compliance.services.retention import DueItem
from tests.compliance.watchlist_helpers import budget, cast, enrol, media, photo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings):
    settings.LFR_GALLERY_CACHE_IDLE_SECONDS = 120
    fake = Clock()
    monkeypatch.setattr(sel, "_now", fake)
    return fake


@pytest.fixture
def no_sweeper(monkeypatch):
    """Keep background sweepers out of the way: a test drives eviction itself."""
    monkeypatch.setattr(sel, "_ensure_sweeper_locked", lambda: None)


@pytest.fixture
def approved(cast, budget):
    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg")), ("PNC-2.png", photo("biden.jpg"))])
    svc.watchlist_approve(actor=cast.approver, deployment=cast.deployment)
    return cast


def test_an_entry_unused_for_the_idle_period_is_evicted_on_the_next_access(approved, clock, no_sweeper):
    pk = approved.deployment.pk
    first = sel.load_gallery(pk)

    clock.now += 100
    assert sel.load_gallery(pk) is first  # used again: the idle period restarts
    clock.now += 100
    assert sel.gallery_cached(pk)  # 100 s since the last use
    clock.now += 21
    assert not sel.gallery_cached(pk)  # 121 s: gone, without any reload for this deployment
    assert pk not in sel._cache

    assert sel.load_gallery(pk) is not first  # decrypted afresh when needed again


def test_any_access_evicts_other_idle_galleries(approved, clock, no_sweeper):
    pk = approved.deployment.pk
    sel.load_gallery(pk)
    clock.now += 121
    sel.clear_gallery_cache(pk + 1000)  # another deployment's cache call still sweeps idle entries
    assert pk not in sel._cache


def test_the_timer_eviction_drops_idle_galleries_without_any_access(approved, clock, no_sweeper):
    pk = approved.deployment.pk
    sel.load_gallery(pk)

    clock.now += 119
    assert sel.evict_idle_galleries() == 0 and pk in sel._cache
    clock.now += 2
    assert sel.evict_idle_galleries() == 1
    assert pk not in sel._cache and pk not in sel._last_used


def test_a_sweeper_thread_starts_with_the_first_entry_and_stops_once_the_cache_is_empty(approved, clock, monkeypatch):
    wake = threading.Event()
    monkeypatch.setattr(sel, "_sweeper", None)  # any sweeper of an earlier test is replaced (and exits)
    monkeypatch.setattr(sel, "_sweep_wait", lambda: wake.wait(0.02))
    pk = approved.deployment.pk

    sel.load_gallery(pk)
    sweeper = sel._sweeper
    assert sweeper is not None and sweeper.daemon and sweeper.is_alive()
    sel.load_gallery(pk)
    assert sel._sweeper is sweeper  # one per process

    clock.now += 121
    sweeper.join(timeout=5)
    assert not sweeper.is_alive()
    assert pk not in sel._cache and sel._sweeper is None


def test_a_version_change_still_invalidates_a_stale_cached_gallery(approved, clock, no_sweeper):
    pk = approved.deployment.pk
    first = sel.load_gallery(pk)
    svc.watchlist_entry_remove(actor=approved.compiler, entry=WatchlistEntry.objects.first(), reason="Arrested.")
    svc.watchlist_approve(actor=approved.approver, deployment=approved.deployment)
    # As a worker that loaded the list before the change (another process) still would hold it:
    with sel._cache_lock:
        sel._cache[pk] = first
        sel._last_used[pk] = clock.now

    reloaded = sel.load_gallery(pk)
    assert reloaded is not first and reloaded.size == 1 and reloaded.version > first.version


def test_retention_verification_reports_this_process_and_the_idle_expiry_elsewhere(
    approved, clock, no_sweeper, django_capture_on_commit_callbacks
):
    from compliance import retention_handlers

    pk = approved.deployment.pk
    stale = sel.load_gallery(pk)
    deployment_services.deployment_close(actor=approved.ao, deployment=approved.deployment, reason="Done.")
    with django_capture_on_commit_callbacks(execute=True):
        svc.watchlist_destroy(actor=approved.dpo, deployment=pk, reason="Completed.")
    item = DueItem(
        data_class="watchlist",
        target_type=retention_handlers.WATCHLIST_TARGET,
        target_id=str(approved.deployment.watchlist.pk),
        deployment_id=pk,
        due_at=approved.deployment.created_at,
    )

    report = retention_handlers._watchlist_verify(item)
    assert report.clean, report.found
    assert report.checks["cache:gallery_this_process"] == 0
    assert report.checks["cache:gallery_other_processes_evict_within_s"] == 120

    with sel._cache_lock:  # a gallery still held here is reported, not hidden
        sel._cache[pk] = stale
        sel._last_used[pk] = clock.now
    report = retention_handlers._watchlist_verify(item)
    assert not report.clean and report.checks["cache:gallery_this_process"] == 1
