from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = "Matching and calibration"

    def ready(self) -> None:
        # Registration by import: calibration home panels; session stop hooks, statistics, heartbeats, live panels.
        from matching import crypto_rotation, live, panels  # noqa: F401  (crypto_rotation: key rotation hooks)
