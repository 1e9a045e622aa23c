"""Re-verify the audit hash chain: exit 0 with the count when intact, non-zero naming the first broken event."""

from django.core.management.base import BaseCommand, CommandError

from compliance import audit


class Command(BaseCommand):
    help = "Re-verify the hash-chained audit log."

    def handle(self, *args, **options) -> None:
        report = audit.verify_chain()
        if not report.ok:
            raise CommandError(
                f"Audit chain BROKEN at event #{report.first_broken_seq}: {report.reason} "
                f"({report.count} events verified before it)."
            )
        self.stdout.write(f"Audit chain intact: {report.count} events verified; last hash {report.last_hash}.")
