"""Builds an app's check registry from its settings: built-ins first, then the merchant's checks."""

from __future__ import annotations

from collections.abc import Iterable

from web3 import Web3

from ..config import Settings
from .builtin import customer_caps_check, embargo_check, value_threshold_check
from .checks import ALL_STAGES, Check, CheckRegistry, Stage
from .sanctions import OracleCheck, ScreeningApiCheck, local_list_check

SANCTIONS_STAGES = ALL_STAGES


def build_registry(
    settings: Settings, w3: Web3 | None, oracle: str | None, extra: Iterable[Check]
) -> CheckRegistry:
    """The checks, in the order they run."""
    registry = CheckRegistry()
    registry.add(Check("sanctions.local_list", local_list_check, SANCTIONS_STAGES))
    if oracle and w3 is not None:
        registry.add(Check("sanctions.oracle", OracleCheck(w3, oracle), SANCTIONS_STAGES))
    if settings.screening_api_url:
        key = settings.screening_api_key.reveal() if settings.screening_api_key else None
        registry.add(
            Check(
                "sanctions.api",
                ScreeningApiCheck(settings.screening_api_url, key, timeout=settings.screening_api_timeout),
                SANCTIONS_STAGES,
            )
        )
    registry.add(Check("embargo", embargo_check, frozenset({Stage.PLACEMENT, Stage.FULFILMENT})))
    registry.add(Check("value_threshold", value_threshold_check, frozenset({Stage.FULFILMENT})))
    registry.add(Check("customer_caps", customer_caps_check, frozenset({Stage.DEPOSIT, Stage.FULFILMENT})))
    for check in extra:
        registry.add(check)
    return registry
