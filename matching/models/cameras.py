"""API tokens for camera units: each unit has at most one usable token, stored only as a sha256 digest."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.models import CameraUnit


class CameraToken(models.Model):
    """A camera unit's frame-submission credential; the secret is shown once and only its digest is kept."""

    camera_unit = models.ForeignKey(CameraUnit, on_delete=models.PROTECT, related_name="api_tokens")
    key_sha256 = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("token prefix"), max_length=16)  # lets people tell tokens apart, useless to attackers
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["camera_unit"],
                condition=models.Q(revoked_at__isnull=True),
                name="matching_one_active_token_per_camera",
                violation_error_message=_("This camera unit already has an active token; rotate it instead."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.camera_unit_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
