"""Re-verify the audit hash chain: exit 0 with the count when intact, non-zero naming the first broken event.

With `--segment FILE`, verify an exported (pruned) segment against its checkpoint instead.
"""

from django.core.management.base import BaseCommand, CommandError

from compliance import audit


class Command(BaseCommand):
    help = "Re-verify the hash-chained audit log, or an exported segment with --segment FILE."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--segment", help="verify an exported audit segment file against its checkpoint")

    def handle(self, *args, **options) -> None:
        if options.get("segment"):
            report = audit.verify_segment(options["segment"])
            if not report.ok:
                where = f" at event #{report.first_broken_seq}" if report.first_broken_seq else ""
                raise CommandError(f"Audit segment BROKEN{where}: {report.reason}.")
            self.stdout.write(
                f"Audit segment intact: {report.count} events verified; last hash {report.last_hash} "
                "matches its checkpoint."
            )
            return
        report = audit.verify_chain()
        if not report.ok:
            raise CommandError(
                f"Audit chain BROKEN at event #{report.first_broken_seq}: {report.reason} "
                f"({report.count} events verified before it)."
            )
        since = f" from checkpoint #{report.from_seq - 1}" if report.from_seq > 1 else ""
        self.stdout.write(f"Audit chain intact: {report.count} events verified{since}; last hash {report.last_hash}.")
