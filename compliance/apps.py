from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance and governance"

    def ready(self) -> None:
        from compliance import signals  # noqa: F401  (sign-in / lock-out audit hooks)
