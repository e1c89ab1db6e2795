"""The compliance gate: runs the checks, stores every result, and decides what may happen to the money.

Nothing captures or voids an escrow unless the gate passed for that action: payout intents start as
``pending`` and only the gate moves them to ``ready`` (the sender sends nothing else). Checks may call the
network (an oracle, an API), so they run *outside* any write transaction; the decision is then applied in a
short transaction that re-reads the order under its lock and does nothing if it moved on meanwhile.

Decisions: a sanctions hit freezes the order (no capture, no void, a case record with a report-by date);
otherwise a failed check before fulfilment leads to a refund, a ``review`` (including an unreachable source:
fail closed) puts the order in ``compliance_review`` until an admin decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import run_in_transaction
from ..errors import IllegalTransition, ValidationFailed
from ..inventory import allocate, lock_product_for_update, release_allocation
from ..lifecycle import record_event, transition
from ..models import ComplianceCase, ComplianceCheck, ComplianceDecision, Order, Payout
from ..orders import lock_order, start_refund
from ..states import FUNDED, OrderStatus
from .checks import CheckContext, CheckRegistry, CheckResult, Outcome, Stage

log = logging.getLogger(__name__)
S = OrderStatus

STAGE_OF_PAYOUT = {"capture": Stage.FULFILMENT, "void": Stage.REFUND}


@dataclass(frozen=True)
class GateResult:
    """The decision of one gate run, with the results it rests on."""

    stage: Stage
    outcome: Outcome
    results: list[tuple[str, str, CheckResult]]  # (check name, version, result)
    sanctions_hit: CheckResult | None = None
    manual_approval: bool = False

    @property
    def summary(self) -> str:
        return (
            "; ".join(
                f"{name}: {r.outcome.value} ({r.reason})"
                for name, _, r in self.results
                if r.outcome != Outcome.PASS
            )
            or "all checks passed"
        )


def business_days_after(start: date, days: int) -> date:
    """``days`` business days (Monday to Friday) after ``start``; public holidays are not counted out."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


class ComplianceGate:
    """Runs the registry's checks for an order at a stage and applies the decision."""

    def __init__(
        self,
        registry: CheckRegistry,
        settings: Settings,
        session_factory: Callable[[], Session],
        clock: Callable[[], datetime],
        *,
        allocation_policy: str = "fill",
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.session_factory = session_factory
        self.clock = clock
        self.policy = allocation_policy

    # ------------------------------------------------------------- evaluation

    def evaluate(self, session: Session, order: Order, stage: Stage) -> GateResult:
        """Run the checks (no writes). A check that raises counts as ``review``: fail closed."""
        now = self.clock()
        ctx = CheckContext(session=session, order=order, stage=stage, settings=self.settings, now=now)
        results: list[tuple[str, str, CheckResult]] = []
        for check in self.registry.for_stage(stage):
            try:
                result = check.run(ctx)
            except Exception as error:
                log.exception("compliance check %s raised", check.name)
                result = CheckResult(Outcome.REVIEW, f"the check failed to run ({type(error).__name__})")
            results.append((check.name, check.version, result))
        hit = next((r for _, _, r in results if r.outcome == Outcome.FAIL and r.sanctions), None)
        manual = order.id is not None and self._approved_manually(session, order, stage)
        if hit is not None:
            outcome = Outcome.FAIL
        elif manual:
            outcome = Outcome.PASS
        elif any(r.outcome == Outcome.FAIL for _, _, r in results):
            outcome = Outcome.FAIL
        elif any(r.outcome == Outcome.REVIEW for _, _, r in results):
            outcome = Outcome.REVIEW
        else:
            outcome = Outcome.PASS
        return GateResult(
            stage=stage, outcome=outcome, results=results, sanctions_hit=hit, manual_approval=manual
        )

    @staticmethod
    def _approved_manually(session: Session, order: Order, stage: Stage) -> bool:
        latest = session.scalars(
            select(ComplianceDecision)
            .where(ComplianceDecision.order_id == order.id, ComplianceDecision.stage == stage.value)
            .order_by(ComplianceDecision.id.desc())
        ).first()
        return latest is not None and latest.outcome == "approve"

    def screen_placement(self, session: Session, order: Order) -> GateResult:
        """Placement: refuse to quote a sanctioned payer or an embargoed destination (raises 422)."""
        result = self.evaluate(session, order, Stage.PLACEMENT)
        refused = [(name, r) for name, _, r in result.results if r.outcome == Outcome.FAIL]
        if refused:
            fields = {"embargo": "shipping.country"}
            raise ValidationFailed(
                "We cannot accept this order.",
                errors=[
                    {
                        "field": fields.get(name, "payer"),
                        "reason": "cannot be accepted" if r.sanctions else r.reason,
                    }
                    for name, r in refused
                ],
            )
        return result

    # ---------------------------------------------------------------- records

    def record(self, session: Session, order: Order, result: GateResult, now: datetime) -> None:
        for name, version, r in result.results:
            session.add(
                ComplianceCheck(
                    order_id=order.id,
                    stage=result.stage.value,
                    check=name,
                    version=version,
                    outcome=r.outcome.value,
                    reason=r.reason[:500],
                    sanctions=r.sanctions,
                    inputs_digest=r.inputs_digest,
                    source=r.source,
                    source_date=r.source_date,
                    created_at=now,
                )
            )
        session.add(
            ComplianceDecision(
                order_id=order.id,
                stage=result.stage.value,
                outcome=result.outcome.value,
                decided_by="gate",
                note=result.summary[:1000],
                created_at=now,
            )
        )

    def freeze(self, session: Session, order: Order, matched: dict[str, Any], now: datetime) -> None:
        """Freeze an order after a sanctions hit: no capture, no void, a case record for the report."""
        if order.status == S.FROZEN:
            return
        was_allocated = order.status == S.ALLOCATED
        transition(session, order, S.FROZEN, "order.frozen", now=now, reason="sanctions")
        for payout in session.scalars(
            select(Payout).where(
                Payout.order_id == order.id, Payout.status.in_(("pending", "ready", "blocked"))
            )
        ):
            payout.status, payout.error, payout.updated_at = "cancelled", "frozen", now
        session.add(
            ComplianceCase(
                order_id=order.id,
                matched=matched,
                status="open",
                created_at=now,
                report_by=business_days_after(now.date(), 10),
            )
        )
        if was_allocated and release_allocation(session, order, now=now):
            allocate(session, lock_product_for_update(session, order.sku), now=now, policy=self.policy)

    # ------------------------------------------------------------------ worker

    def tick(self) -> int:
        """Screen what waits for the gate: new deposits, new allocations, payout intents. Returns how many."""
        done = 0
        for order_id, stage in self._work():
            done += self._screen(order_id, stage)
        return done

    def _work(self) -> list[tuple[str, Stage]]:
        session = self.session_factory()
        try:
            held = session.scalars(
                select(Order.id).where(Order.status == S.HELD, Order.deposit_screened_at.is_(None)).limit(500)
            )
            allocated = session.scalars(
                select(Order.id)
                .where(Order.status == S.ALLOCATED, Order.fulfilment_screened_at.is_(None))
                .limit(500)
            )
            payouts = session.execute(
                select(Payout.order_id, Payout.kind).where(Payout.status == "pending").limit(500)
            )
            work = [(oid, Stage.DEPOSIT) for oid in held]
            work += [(oid, Stage.FULFILMENT) for oid in allocated]
            work += [(oid, STAGE_OF_PAYOUT[kind]) for oid, kind in payouts]
            return work
        finally:
            session.close()

    def _screen(self, order_id: str, stage: Stage) -> int:
        session = self.session_factory()
        try:
            order = session.get(Order, order_id)
            if order is None:
                return 0
            observed = S(order.status)
            result = self.evaluate(session, order, stage)  # network calls happen here, no lock held
        finally:
            session.close()
        return run_in_transaction(
            self.session_factory, lambda s: self._apply(s, order_id, stage, observed, result)
        )

    def _apply(self, session: Session, order_id: str, stage: Stage, observed: S, result: GateResult) -> int:
        now = self.clock()
        lock_product_for_update(session, session.get(Order, order_id).sku)  # type: ignore[union-attr]
        order = lock_order(session, order_id)
        if order.status != observed:
            return 0  # it moved on while the checks ran; it will be screened again if it needs to be
        self.record(session, order, result, now)
        if result.sanctions_hit is not None and (order.status in FUNDED or order.status == S.ALLOCATED):
            self.freeze(session, order, result.sanctions_hit.matched or {}, now)
            return 1
        if stage == Stage.DEPOSIT:
            order.deposit_screened_at = now
            if result.outcome != Outcome.PASS:
                record_event(
                    session,
                    "compliance.warning",
                    now=now,
                    order=order,
                    stage=stage.value,
                    summary=result.summary,
                )
            return 1
        payout = None
        if stage in (Stage.FULFILMENT, Stage.REFUND):
            kind = "capture" if stage == Stage.FULFILMENT else "void"
            payout = session.scalars(
                select(Payout).where(
                    Payout.order_id == order.id, Payout.kind == kind, Payout.status == "pending"
                )
            ).first()
        if stage == Stage.FULFILMENT:
            order.fulfilment_screened_at = now
        if result.outcome == Outcome.PASS:
            if payout is not None:
                payout.status, payout.updated_at = "ready", now
            return 1
        if result.outcome == Outcome.REVIEW or stage == Stage.REFUND:
            if payout is not None:
                payout.status, payout.updated_at = "blocked", now
            transition(
                session,
                order,
                S.COMPLIANCE_REVIEW,
                "compliance.review_needed",
                now=now,
                stage=stage.value,
                summary=result.summary,
            )
            return 1
        # A failed (non-sanctions) check before fulfilment: the buyer is refunded.
        if payout is not None:
            payout.status, payout.error, payout.updated_at = "cancelled", "compliance", now
        try:
            start_refund(
                session, order, now=now, reason=f"compliance: {result.summary}"[:200], policy=self.policy
            )
        except IllegalTransition:
            log.exception("could not start the refund of order %s after a failed check", order.id)
        return 1

    # ------------------------------------------------------------------ review

    def decide_review(
        self, session: Session, order_id: str, *, approve: bool, note: str | None, decided_by: str
    ) -> Order:
        """An admin's decision on an order in ``compliance_review`` (approve or reject, with a note)."""
        now = self.clock()
        sku = session.scalar(select(Order.sku).where(Order.id == order_id))
        if sku is None:
            from ..errors import NotFound

            raise NotFound("No such order.")
        lock_product_for_update(session, sku)
        order = lock_order(session, order_id)
        if order.status != S.COMPLIANCE_REVIEW:
            raise IllegalTransition(
                f"Only an order in compliance review can be decided; this one is {S(order.status).value!r}.",
                current_status=S(order.status).value,
            )
        pending = session.scalars(
            select(ComplianceDecision)
            .where(
                ComplianceDecision.order_id == order.id,
                ComplianceDecision.decided_by == "gate",
                ComplianceDecision.outcome == "review",
            )
            .order_by(ComplianceDecision.id.desc())
        ).first()
        stage = Stage(pending.stage) if pending is not None else Stage.FULFILMENT
        session.add(
            ComplianceDecision(
                order_id=order.id,
                stage=stage.value,
                outcome="approve" if approve else "reject",
                decided_by=decided_by[:120],
                note=(note or "")[:1000],
                created_at=now,
            )
        )
        record_event(
            session,
            "compliance.decided",
            now=now,
            order=order,
            stage=stage.value,
            decision="approve" if approve else "reject",
            decided_by=decided_by,
            note=note,
        )
        blocked = session.scalars(
            select(Payout).where(Payout.order_id == order.id, Payout.status == "blocked")
        ).all()
        if approve:
            target = S.REFUND_PENDING if stage == Stage.REFUND else S.ALLOCATED
            if target == S.ALLOCATED and not self._has_allocation(session, order):
                target = S.HELD
            transition(session, order, target, "compliance.approved", now=now, stage=stage.value)
            order.fulfilment_screened_at = now
            for payout in blocked:
                payout.status, payout.updated_at = "pending", now  # the gate re-runs (sanctions included)
            return order
        if stage == Stage.REFUND:
            # Refusing to return the funds is a hold: freeze with a case record.
            self.freeze(session, order, {"manual": True, "decided_by": decided_by, "note": note}, now)
            return order
        for payout in blocked:
            payout.status, payout.error, payout.updated_at = "cancelled", "rejected in review", now
        start_refund(
            session,
            order,
            now=now,
            reason=f"compliance review rejected: {note or ''}"[:200],
            policy=self.policy,
        )
        return order

    @staticmethod
    def _has_allocation(session: Session, order: Order) -> bool:
        from ..models import Allocation

        return (
            session.scalars(
                select(Allocation.id).where(Allocation.order_id == order.id, Allocation.released_at.is_(None))
            ).first()
            is not None
        )
