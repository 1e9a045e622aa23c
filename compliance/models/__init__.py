"""Compliance models, one module per area; import them here so Django finds them."""

from compliance.models.accounts import TrainingRecord, User
from compliance.models.audit import AuditChainHead, AuditEvent
from compliance.models.cameras import CameraUnit

__all__ = ["AuditChainHead", "AuditEvent", "CameraUnit", "TrainingRecord", "User"]
