"""The engine settings in force, read from Django settings (LFR_DETECTOR, LFR_UPSAMPLE, ...)."""

from __future__ import annotations

from django.conf import settings

from matching.engine import EngineConfig


def engine_config() -> EngineConfig:
    """The EngineConfig built from settings; its fingerprint ties calibration records to these settings."""
    return EngineConfig(
        detector=getattr(settings, "LFR_DETECTOR", "hog"),
        upsample=int(getattr(settings, "LFR_UPSAMPLE", 0)),
        num_jitters=int(getattr(settings, "LFR_NUM_JITTERS", 1)),
        encoding_model=getattr(settings, "LFR_ENCODING_MODEL", "large"),
        min_face_px=int(getattr(settings, "LFR_MIN_FACE_PX", 40)),
    )
