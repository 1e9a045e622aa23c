"""Thin Celery tasks for the compliance app: each calls a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from compliance.services.deployments import deployments_complete_finished
from lfr_portal import context


@shared_task(name="compliance.tasks.complete_finished_deployments", ignore_result=True)
def complete_finished_deployments() -> int:
    """Every minute: complete deployments whose last window has ended, and settle submitted applications that
    can no longer be authorised (audited as the system)."""
    with context.request_context(actor=None):
        return len(deployments_complete_finished())


@shared_task(name="compliance.tasks.delete_expired_api_tokens", ignore_result=True)
def delete_expired_api_tokens() -> int:
    """Every hour: delete expired user API tokens (their digests), audited per account."""
    from compliance.services.accounts import api_tokens_delete_expired

    with context.request_context(actor=None):
        return api_tokens_delete_expired()


# --- Watch-lists (domain.md 3): enrolment on the `enrolment` queue, destruction by beat -------------------------


@shared_task(
    name="compliance.tasks.process_enrolment_batch",  # routed to the `enrolment` queue (CELERY_TASK_ROUTES)
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.LFR_ENROLMENT_TIME_LIMIT - 100,
    time_limit=settings.LFR_ENROLMENT_TIME_LIMIT,
)
def process_enrolment_batch(batch_id: int) -> None:
    """Give each image of an enrolment batch its verdict (idempotent: a redelivery skips finished items)."""
    from compliance.services.watchlists import enrolment_batch_process

    with context.request_context(actor=None):
        enrolment_batch_process(batch_id=batch_id)


@shared_task(name="compliance.tasks.resume_stalled_enrolment", ignore_result=True)
def resume_stalled_enrolment() -> list[int]:
    """Every five minutes: queue again enrolment batches never queued (broker down) or whose worker died."""
    from compliance.services.watchlists import enrolment_batches_resume

    with context.request_context(actor=None):
        return enrolment_batches_resume()


@shared_task(name="compliance.tasks.destroy_due_watchlists", acks_late=True, ignore_result=True)  # `enrolment`
def destroy_due_watchlists() -> int:
    """Every few minutes: destroy watch-lists of revoked deployments, and of completed ones after the delay."""
    from compliance.services.watchlists import watchlists_destroy_due

    with context.request_context(actor=None):
        return len(watchlists_destroy_due())


# --- Retention (domain.md 6) and the EU AI Act 24-hour rule (domain.md 8) ---------------------------------------


@shared_task(name="compliance.tasks.enforce_retention", acks_late=True, ignore_result=True, time_limit=3000)
def enforce_retention() -> int | None:
    """Delete what is past its retention period, verify the deletion, prune the audit log; returns the run id, or
    None when a sweep still running (they may outlast the beat interval) made this one skip (the service logs it)."""
    from compliance.services.retention import RetentionSweepRunning, retention_enforce

    with context.request_context(actor=None):
        try:
            return retention_enforce(trigger="beat").pk
        except RetentionSweepRunning:
            return None


@shared_task(name="compliance.tasks.enforce_eu_authorisation_deadline", ignore_result=True)
def enforce_eu_authorisation_deadline() -> list[int]:
    """Every minute (EU mode): stop and delete every urgent use not authorised within 24 h of its first session."""
    from compliance.services.eu_ai_act import eu_enforce_authorisation_deadline

    with context.request_context(actor=None):
        return eu_enforce_authorisation_deadline()
