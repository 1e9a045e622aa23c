"""Matching models, one module per area; import them here so Django finds them."""

from matching.models.calibration import AlertBudgetPolicy, CalibrationRecord, CalibrationStatus, EncodingCache  # noqa: F401
from matching.models.cameras import CameraToken  # noqa: F401
from matching.models.sessions import Adjudication, Alert, MatchingSession, WorkerHeartbeat  # noqa: F401
