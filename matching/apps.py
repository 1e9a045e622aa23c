from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = "Matching and calibration"

    def ready(self) -> None:
        # Registration by import: calibration home panels; session stop hooks, statistics, heartbeats, live panels.
        from matching import live, panels  # noqa: F401
