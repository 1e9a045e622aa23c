"""Key rotation for the matching app's encrypted columns (imported by MatchingConfig.ready).

`compliance.services.watchlists.encryption_keys_rotate` (behind `manage.py rotate_encoding_key`) re-encrypts the
watch-list data itself and calls these for the rest: alert probe crops and the calibration encoding cache. Without
them, removing the old key would make every probe crop and cached encoding undecryptable.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from compliance.crypto import rotate_token
from compliance.services import watchlists as watchlist_services
from matching.models import Alert, EncodingCache

BATCH_SIZE = 200


def _rotate_column(model: type[models.Model], column: str) -> int:
    """Re-encrypt one nullable Fernet column in batches of locked rows; returns how many rows were rewritten.

    Each batch locks its rows while it rewrites them, so a worker updating a probe crop at the same moment cannot
    have its new token overwritten by a stale rotated one.
    """
    count = 0
    last_pk = 0
    base = model.objects.exclude(**{f"{column}__isnull": True}).order_by("pk")
    while True:
        with transaction.atomic():
            ids = list(base.filter(pk__gt=last_pk).values_list("pk", flat=True)[:BATCH_SIZE])
            if not ids:
                return count
            rows = model.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", column)
            for pk, token in rows:
                if token:
                    model.objects.filter(pk=pk).update(**{column: rotate_token(bytes(token))})
                    count += 1
            last_pk = ids[-1]


def rotate_probe_crops(actor: Any = None) -> tuple[str, int]:
    """Alert probe crops (kept up to 31 days after the deployment, longer on evidential hold)."""
    return "probe_crops", _rotate_column(Alert, "probe_crop")


def rotate_calibration_encodings(actor: Any = None) -> tuple[str, int]:
    """The calibration encoding cache (labelled research data, still biometric)."""
    return "calibration_encodings", _rotate_column(EncodingCache, "encrypted_encoding")


for _rotator in (rotate_probe_crops, rotate_calibration_encodings):
    if _rotator not in watchlist_services.extra_rotators:
        watchlist_services.extra_rotators.append(_rotator)
