"""Re-encrypt every encrypted biometric artefact under the newest key in LFR_ENCODING_KEYS, without loss.

Rotate by prepending a new key to LFR_ENCODING_KEYS, running this command, then removing the old key.
"""

from django.core.management.base import BaseCommand

from compliance.crypto import reset_keys
from compliance.services.watchlists import encryption_keys_rotate
from lfr_portal import context


class Command(BaseCommand):
    help = "Re-encrypt encodings and stored images under the newest key in LFR_ENCODING_KEYS (audited)."

    def handle(self, *args, **options) -> None:
        reset_keys()
        with context.request_context(actor=None):
            counts = encryption_keys_rotate(actor=None)
        summary = ", ".join(f"{name}: {count}" for name, count in counts.items())
        self.stdout.write(f"Re-encrypted under the newest key. {summary}.")
