"""Home-page panels this app adds (compliance.views.home.register_home_panel)."""

from __future__ import annotations

from typing import Any

from compliance.choices import Role
from compliance.views.home import register_home_panel
from matching.models import AlertBudgetPolicy, CalibrationStatus
from matching.selectors.calibration import active_calibration_record, calibration_record_list
from matching.services.calibration import calibration_approval_refusal


@register_home_panel(Role.DPO)
def calibration_panel(user: Any) -> dict[str, Any]:
    """What the DPO needs to know about calibration: the active record, drafts waiting, the budget."""
    records = calibration_record_list(user=user)
    drafts = list(records.filter(status=CalibrationStatus.DRAFT))
    return {
        "calibration_active": active_calibration_record(),
        # Only the drafts this DPO may approve wait for their review; their own runs wait for another DPO.
        "calibration_drafts": sum(1 for r in drafts if calibration_approval_refusal(user, r) is None),
        "calibration_own_drafts": sum(
            1 for r in drafts if r.ran_by_id == user.pk and not r.is_stale and r.usable_curves()
        ),
        "calibration_stale_active": [r for r in records.filter(status=CalibrationStatus.ACTIVE) if r.is_stale],
        "alert_budget": AlertBudgetPolicy.current(),
    }
