"""Compliance models, one module per area; import them here so Django finds them."""

from compliance.models.accounts import RoleAppointment, TrainingRecord, User
from compliance.models.audit import AuditChainHead, AuditEvent
from compliance.models.cameras import CameraUnit
from compliance.models.deployments import (  # noqa: F401
    Authorisation,
    AuthorisationDecision,
    Deployment,
    DeploymentWindow,
    LeafletRecord,
    ObjectiveMet,
    PostDeploymentReview,
    SignageRecord,
)
from compliance.models.retention import (  # noqa: F401
    AuditCheckpoint,
    EqualityField,
    EqualityRecord,
    EuAiActRecord,
    EuNotification,
    EvidentialHold,
    RetentionPolicy,
    RetentionRun,
)
from compliance.models.watchlists import EnrolmentBatch, EnrolmentItem, ReferenceImage, Watchlist, WatchlistEntry  # noqa: F401,E501

__all__ = ["AuditChainHead", "AuditEvent", "CameraUnit", "RoleAppointment", "TrainingRecord", "User"]
