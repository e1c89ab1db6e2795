"""What the chain watcher reports: deposits seen, final or gone in a reorg, and escrow releases.

Idempotent: the same log reported twice changes nothing the second time (the schema enforces one deposit
row per ``(chain_id, tx_hash, log_index)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .inventory import allocate, lock_product_for_update, release_allocation
from .lifecycle import record_event, transition
from .models import Deposit, Order, Payout
from .orders import start_refund
from .states import OrderStatus

log = logging.getLogger(__name__)
S = OrderStatus


@dataclass(frozen=True)
class DepositLog:
    """A decoded ``Deposited`` log."""

    chain_id: int
    order_ref: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    payer: str
    token_address: str | None
    amount: int


@dataclass(frozen=True)
class ReleaseLog:
    """A decoded ``Captured``, ``Voided`` or ``Reclaimed`` log (``kind`` is the event name)."""

    chain_id: int
    kind: str
    order_ref: str
    tx_hash: str
    log_index: int
    block_number: int
    to: str
    amount: int


def _order_by_ref(session: Session, order_ref: str) -> Order | None:
    sku = session.scalar(select(Order.sku).where(Order.order_ref == order_ref))
    if sku is None:
        return None
    lock_product_for_update(session, sku)
    return session.execute(select(Order).where(Order.order_ref == order_ref).with_for_update()).scalar_one()


def record_deposit(
    session: Session, entry: DepositLog, *, final: bool, now: datetime, policy: str = "fill"
) -> Order | None:
    """Credit a deposit log to its order (``deposit_pending``, or ``held`` when ``final``)."""
    order = _order_by_ref(session, entry.order_ref)
    if order is None:
        log.warning("a Deposited log for an unknown order ref (tx %s)", entry.tx_hash)
        record_event(
            session, "deposit.unknown_order", now=now, order_ref=entry.order_ref, tx_hash=entry.tx_hash
        )
        return None
    if entry.payer.lower() != order.payer.lower() or entry.amount != order.amount:
        # The contract binds payer and amount through the quote signature; a mismatch means a foreign escrow.
        log.error("a Deposited log does not match its order's quote (tx %s)", entry.tx_hash)
        record_event(session, "deposit.mismatch", now=now, order=order, tx_hash=entry.tx_hash)
        return order

    deposit = session.scalar(
        select(Deposit).where(
            Deposit.chain_id == entry.chain_id,
            Deposit.tx_hash == entry.tx_hash,
            Deposit.log_index == entry.log_index,
        )
    )
    live = order.deposit
    if deposit is None:
        if live is not None and not live.final:
            # The same order ref in another log: the old one was reorged out and the tx re-included.
            unwind_deposit(session, live, now=now, reason="replaced")
        elif live is not None:
            log.error("a second Deposited log for a final order ref (tx %s)", entry.tx_hash)
            return order
        deposit = Deposit(
            order_id=order.id,
            chain_id=entry.chain_id,
            tx_hash=entry.tx_hash,
            log_index=entry.log_index,
            block_number=entry.block_number,
            block_hash=entry.block_hash,
            payer=entry.payer,
            token_address=entry.token_address,
            amount=entry.amount,
            final=False,
            seen_at=now,
        )
        session.add(deposit)
        session.flush()
        session.refresh(order, ["deposits"])
    elif deposit.unwound_at is not None:
        deposit.unwound_at = None  # the log came back
    if deposit.final:
        return order
    deposit.block_number, deposit.block_hash = entry.block_number, entry.block_hash

    if order.status in (S.AWAITING_DEPOSIT, S.EXPIRED, S.CANCELLED):
        transition(
            session,
            order,
            S.DEPOSIT_PENDING,
            "deposit.seen",
            now=now,
            tx_hash=entry.tx_hash,
            block_number=entry.block_number,
        )
    if final and order.status == S.DEPOSIT_PENDING:
        deposit.final, deposit.final_at = True, now
        order.queue_block, order.queue_log_index = entry.block_number, entry.log_index
        transition(
            session,
            order,
            S.HELD,
            "deposit.confirmed",
            now=now,
            tx_hash=entry.tx_hash,
            block_number=entry.block_number,
        )
        if order.cancel_requested:
            start_refund(
                session, order, now=now, reason="cancelled before the deposit was final", policy=policy
            )
        else:
            product = lock_product_for_update(session, order.sku)
            if product.stock_on_hand > 0:
                allocate(session, product, now=now, policy=policy)
    return order


def unwind_deposit(session: Session, deposit: Deposit, *, now: datetime, reason: str = "reorg") -> None:
    """A not-yet-final deposit log left the canonical chain: forget it and reopen the order."""
    if deposit.final or deposit.unwound_at is not None:
        return
    deposit.unwound_at = now
    order = session.get(Order, deposit.order_id)
    assert order is not None
    record_event(session, "deposit.unwound", now=now, order=order, tx_hash=deposit.tx_hash, reason=reason)
    if order.status == S.DEPOSIT_PENDING:
        target = S.AWAITING_DEPOSIT if order.quote_deadline > now else S.EXPIRED
        if order.cancel_requested:
            target = S.EXPIRED
        transition(session, order, target, "order.reopened", now=now, reason=reason)


def pending_deposits(session: Session, chain_id: int, *, from_block: int) -> list[Deposit]:
    """Live, not-yet-final deposits at or above ``from_block`` (the watcher re-checks these)."""
    return list(
        session.scalars(
            select(Deposit).where(
                Deposit.chain_id == chain_id,
                Deposit.final.is_(False),
                Deposit.unwound_at.is_(None),
                Deposit.block_number >= from_block,
            )
        )
    )


def record_release(
    session: Session, entry: ReleaseLog, *, now: datetime, policy: str = "fill"
) -> Order | None:
    """A final ``Captured``/``Voided``/``Reclaimed`` log: finish the order and its payout."""
    order = _order_by_ref(session, entry.order_ref)
    if order is None:
        return None
    kind = {"Captured": "capture", "Voided": "void", "Reclaimed": "reclaim"}[entry.kind]
    payout = session.scalar(select(Payout).where(Payout.order_id == order.id, Payout.kind == kind))
    if payout is not None and payout.status != "confirmed":
        payout.status, payout.tx_hash, payout.updated_at = "confirmed", entry.tx_hash, now
    data = {"tx_hash": entry.tx_hash, "to": entry.to, "amount": str(entry.amount)}
    if kind == "capture" and order.status != S.FULFILLED:
        transition(session, order, S.FULFILLED, "order.fulfilled", now=now, **data)
    elif kind == "void" and order.status != S.REFUNDED:
        transition(session, order, S.REFUNDED, "order.refunded", now=now, **data)
    elif kind == "reclaim" and order.status != S.RECLAIMED:
        was_allocated = order.status == S.ALLOCATED
        transition(session, order, S.RECLAIMED, "order.reclaimed", now=now, **data)
        if was_allocated and release_allocation(session, order, now=now):
            allocate(session, lock_product_for_update(session, order.sku), now=now, policy=policy)
    return order
