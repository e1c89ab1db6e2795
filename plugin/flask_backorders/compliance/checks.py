"""The check interface and the registry merchants add their own checks to."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import Order


class Stage(StrEnum):
    """When a check runs."""

    PLACEMENT = "placement"
    """Before a quote is issued (a sanctioned payer gets no quote: it is bound to the payer)."""
    DEPOSIT = "deposit"
    """When a deposit becomes final: an early warning (a sanctions hit freezes at once)."""
    FULFILMENT = "fulfilment"
    """Before the escrow is captured to the merchant: decisive."""
    REFUND = "refund"
    """Before the escrow is voided back to the payer: decisive."""


ALL_STAGES = frozenset(Stage)


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    REVIEW = "review"


@dataclass(frozen=True)
class CheckContext:
    """What a check sees: the order, the stage, the database session (read only), settings, time."""

    session: Session
    order: Order
    stage: Stage
    settings: Settings
    now: datetime
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """A check's answer. ``sanctions=True`` on a fail means a sanctions hit: the order is frozen."""

    outcome: Outcome
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_date: str | None = None
    sanctions: bool = False
    matched: dict[str, Any] | None = None

    @property
    def inputs_digest(self) -> str:
        return hashlib.sha256(json.dumps(self.inputs, sort_keys=True, default=str).encode()).hexdigest()


class CheckFunction(Protocol):
    def __call__(self, ctx: CheckContext) -> CheckResult: ...


@dataclass(frozen=True)
class Check:
    """A named, versioned check and the stages it runs at."""

    name: str
    run: CheckFunction
    stages: frozenset[Stage] = ALL_STAGES
    version: str = "1"


def passed(reason: str, **kwargs: Any) -> CheckResult:
    return CheckResult(Outcome.PASS, reason, **kwargs)


def failed(reason: str, **kwargs: Any) -> CheckResult:
    return CheckResult(Outcome.FAIL, reason, **kwargs)


def review(reason: str, **kwargs: Any) -> CheckResult:
    return CheckResult(Outcome.REVIEW, reason, **kwargs)


class CheckRegistry:
    """Checks in the fixed order they run. Built-ins first, then the merchant's, in registration order."""

    def __init__(self, checks: Iterable[Check] = ()) -> None:
        self._checks: list[Check] = list(checks)

    def add(self, check: Check) -> Check:
        if any(c.name == check.name for c in self._checks):
            raise ValueError(f"a check named {check.name!r} is already registered")
        self._checks.append(check)
        return check

    def register(
        self, name: str, *, stages: Iterable[Stage | str] = ALL_STAGES, version: str = "1"
    ) -> Callable[[CheckFunction], CheckFunction]:
        """Decorator: ``@registry.register("kyc_age", stages=["fulfilment"])`` on ``fn(ctx) -> result``."""

        def decorator(fn: CheckFunction) -> CheckFunction:
            self.add(Check(name=name, run=fn, stages=frozenset(Stage(s) for s in stages), version=version))
            return fn

        return decorator

    def for_stage(self, stage: Stage) -> list[Check]:
        return [c for c in self._checks if stage in c.stages]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._checks]
