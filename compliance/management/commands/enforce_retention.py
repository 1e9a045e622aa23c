"""Enforce the retention policies (domain.md 6): list what is due with --dry-run; otherwise delete, verify that
nothing of the deleted data can be found, prune the audit log past its period, and record the evidence."""

from django.core.management.base import BaseCommand, CommandError

from compliance.services import retention
from lfr_portal import context


class Command(BaseCommand):
    help = "Delete data past its retention period and verify the deletion (--dry-run lists it and changes nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; change nothing")

    def handle(self, *args, **options) -> None:
        if options["dry_run"]:
            plan = retention.retention_plan()
            self.stdout.write(f"Dry run at {plan.now.isoformat()}: nothing will be changed.")
            for item in plan.due:
                self.stdout.write(
                    f"DUE  {item.data_class:<10} {item.target_type}:{item.target_id} deployment={item.deployment_id} "
                    f"due since {item.due_at.isoformat()} {item.label}"
                )
            for held in plan.held:
                self.stdout.write(
                    f"HELD {held.item.data_class:<10} {held.item.target_type}:{held.item.target_id} "
                    f"hold #{held.hold_id} by {held.placed_by}: {held.reason}"
                )
            if plan.audit_prune_through is not None:
                self.stdout.write(
                    f"AUDIT {plan.audit_prune_count} event(s) through #{plan.audit_prune_through} are older than "
                    f"{plan.audit_cutoff.isoformat()} and would be exported and pruned"
                )
            for checkpoint in plan.segments_due:
                self.stdout.write(
                    f"SEGMENT {checkpoint.segment_name} (events #{checkpoint.first_seq}-#{checkpoint.seq}, pruned "
                    f"before {checkpoint.cutoff.isoformat()}) is past its grace and would be deleted"
                )
            for error in plan.errors:
                self.stderr.write(f"ERROR {error}")
            self.stdout.write(f"{len(plan.due)} due, {len(plan.held)} held, {plan.audit_prune_count} audit events.")
            return
        with context.request_context(actor=None):
            try:
                run = retention.retention_enforce(trigger="command")
            except retention.RetentionSweepRunning as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Retention run #{run.pk}: {len(run.deleted)} deleted and verified, {len(run.held)} held, "
            f"{len(run.failures)} failure(s)."
        )
        for failure in run.failures:
            self.stderr.write(f"FAILED {failure}")
        if run.failures:
            raise CommandError(f"Retention run #{run.pk} recorded {len(run.failures)} failure(s).")
