from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance and governance"

    def ready(self) -> None:
        from compliance import signals  # noqa: F401  (sign-in / lock-out audit hooks)
        from compliance.services import eu_ai_act, watchlists
        from lfr_portal import checks  # noqa: F401  (system checks)

        watchlists.connect()  # watch-list gate, published size, destruction on revocation
        eu_ai_act.connect()  # EU AI Act gate and pre-authorisation check (inactive unless LFR_JURISDICTION=eu)
