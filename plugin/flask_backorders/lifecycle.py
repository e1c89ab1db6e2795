"""Applying a transition: check the table, change the status, append the event row, queue the signal.

The event row is written in the caller's transaction; the signal is sent only after that transaction
commits (and dropped if it rolls back).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from . import signals
from .models import Event, Order
from .outbox import forget_endpoints, publish
from .states import OrderStatus, check_transition

log = logging.getLogger(__name__)

_PENDING = "flask_backorders.pending_signals"


def record_event(
    session: Session,
    type_: str,
    *,
    now: datetime,
    order: Order | None = None,
    sku: str | None = None,
    from_status: OrderStatus | None = None,
    to_status: OrderStatus | None = None,
    **data: Any,
) -> Event:
    """Append an event row and queue its signal for after the commit."""
    row = Event(
        order_id=order.id if order is not None else None,
        sku=sku or (order.sku if order is not None else None),
        type=type_,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        data=data,
        created_at=now,
    )
    session.add(row)
    if type_ in signals.BY_EVENT:
        snapshot = order_snapshot(order) if order is not None else None
        publish(session, type_, now=now, order=snapshot, data=data)
        if snapshot is not None and signals.BY_EVENT[type_].receivers:
            session.info.setdefault(_PENDING, []).append((type_, snapshot, data))
    return row


def queue_signal(session: Session, type_: str, snapshot: dict[str, Any], data: dict[str, Any]) -> None:
    """Send ``type_``'s signal after the session's transaction commits (for bulk writers)."""
    session.info.setdefault(_PENDING, []).append((type_, snapshot, data))


def transition(
    session: Session,
    order: Order,
    target: OrderStatus,
    type_: str,
    *,
    now: datetime,
    **data: Any,
) -> Event:
    """Move ``order`` to ``target`` if the transition table allows it, and record why."""
    current = OrderStatus(order.status)
    check_transition(current, target)
    order.status = target
    order.updated_at = now
    return record_event(session, type_, now=now, order=order, from_status=current, to_status=target, **data)


def order_snapshot(order: Order) -> dict[str, Any]:
    """A plain-data view of an order for signal receivers and webhooks (never the buyer secret)."""
    product = order.product
    return {
        "id": order.id,
        "sku": order.sku,
        "product_name": product.name if product is not None else None,
        "quantity": order.quantity,
        "status": OrderStatus(order.status).value,
        "email": order.email,
        "payer": order.payer,
        "shipping": order.shipping,
        "token": order.token,
        "amount": str(order.amount),
        "fiat_amount": str(order.fiat_amount),
        "currency": order.currency,
        "order_ref": order.order_ref,
        "chain_id": order.chain_id,
        "restock_eta": {
            "earliest": product.restock_eta_earliest.isoformat()
            if product and product.restock_eta_earliest
            else None,
            "latest": product.restock_eta_latest.isoformat()
            if product and product.restock_eta_latest
            else None,
        },
        "carrier": order.carrier,
        "tracking": order.tracking,
        "created_at": order.created_at.isoformat().replace("+00:00", "Z") if order.created_at else None,
        "updated_at": order.updated_at.isoformat().replace("+00:00", "Z") if order.updated_at else None,
    }


@event.listens_for(Session, "after_commit")
def _send_pending_signals(session: Session) -> None:
    forget_endpoints(session)
    pending = session.info.pop(_PENDING, None)
    for type_, snapshot, data in pending or ():
        try:
            signals.BY_EVENT[type_].send(snapshot["id"], order=snapshot, event=type_, data=data)
        except Exception:
            log.exception("a receiver of %s raised; the change itself is committed", type_)


@event.listens_for(Session, "after_rollback")
def _drop_pending_signals(session: Session) -> None:
    forget_endpoints(session)
    session.info.pop(_PENDING, None)
