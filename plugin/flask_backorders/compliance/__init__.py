"""The compliance gate before fulfilment and refund: sanctions, embargoes, thresholds, caps, audit trail.

Merchants add checks with :meth:`Backorders.check` (a decorator) or ``Backorders(checks=[...])``.
"""

from __future__ import annotations

from .checks import (
    Check,
    CheckContext,
    CheckFunction,
    CheckRegistry,
    CheckResult,
    Outcome,
    Stage,
    failed,
    passed,
    review,
)
from .gate import ComplianceGate, GateResult

__all__ = [
    "Check",
    "CheckContext",
    "CheckFunction",
    "CheckRegistry",
    "CheckResult",
    "ComplianceGate",
    "GateResult",
    "Outcome",
    "Stage",
    "failed",
    "passed",
    "review",
]
