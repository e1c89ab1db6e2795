"""Delay notices: when a restock ETA moves later or passes, every open order is told, with a one-click
cancel-and-refund link that works once.

The link carries a random token whose SHA-256 is stored on the notice (like buyer secrets): nothing to
forge with the server key, nothing usable in the database alone, and a used notice is marked so a second
click changes nothing. Cancelling through it runs the normal, compliance-gated refund.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .lifecycle import record_event
from .models import DelayNotice, Order, Product
from .states import QUEUED, OrderStatus

#: Orders still waiting for stock: they get delay notices.
WAITING = QUEUED | frozenset({OrderStatus.COMPLIANCE_REVIEW})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cancel_link(link_base: str, order_id: str, notice_id: int, token: str) -> str:
    return f"{link_base}/orders/{order_id}/delay-cancel?notice={notice_id}&token={token}"


def is_later(old: tuple[date | None, date | None], new: tuple[date | None, date | None]) -> bool:
    """Did the ETA move later (or become unknown)?"""
    old_latest, new_latest = old[1] or old[0], new[1] or new[0]
    if old_latest is None:
        return False
    return new_latest is None or new_latest > old_latest


def announce_eta(
    session: Session,
    product: Product,
    old: tuple[date | None, date | None],
    *,
    now: datetime,
    link_base: str,
    reason: str = "eta_changed",
) -> int:
    """Tell every waiting order about the product's new ETA; a later ETA comes with a cancel link.

    Returns how many orders were told.
    """
    new = (product.restock_eta_earliest, product.restock_eta_latest)
    delayed = reason == "eta_passed" or is_later(old, new)
    eta: dict[str, Any] | None = (
        {
            "earliest": new[0].isoformat() if new[0] else None,
            "latest": new[1].isoformat() if new[1] else None,
        }
        if reason != "eta_passed" and (new[0] or new[1])
        else None
    )
    told = 0
    orders = session.scalars(
        select(Order).where(Order.sku == product.sku, Order.status.in_(WAITING)).order_by(Order.created_at)
    ).all()
    for order in orders:
        data: dict[str, Any] = {
            "restock_eta": eta,
            "eta_known": eta is not None,
            "delayed": delayed,
            "reason": reason,
        }
        if delayed:
            token = secrets.token_urlsafe(24)
            notice = DelayNotice(
                order_id=order.id,
                reason=reason,
                new_eta=new[1] or new[0],
                token_hash=_hash(token),
                created_at=now,
            )
            session.add(notice)
            session.flush()
            data["cancel_url"] = cancel_link(link_base, order.id, notice.id, token)
        record_event(session, "eta.changed", now=now, order=order, **data)
        told += 1
    return told


def find_notice(session: Session, order_id: str, notice_id: int, token: str) -> DelayNotice | None:
    """The notice a link points at, if the token matches (constant-time)."""
    notice = session.get(DelayNotice, notice_id, with_for_update=True)
    if notice is None or notice.order_id != order_id:
        return None
    return notice if hmac.compare_digest(notice.token_hash, _hash(token)) else None


def lapse_overdue_etas(session: Session, *, now: datetime, link_base: str) -> int:
    """Products whose latest ETA passed without a restock: announce "unknown" once. Returns products."""
    overdue = session.scalars(
        select(Product)
        .where(
            Product.restock_eta_latest.is_not(None),
            Product.restock_eta_latest < now.date(),
            Product.eta_lapsed_at.is_(None),
        )
        .with_for_update(skip_locked=True)
    ).all()
    for product in overdue:
        product.eta_lapsed_at = now
        announce_eta(
            session,
            product,
            (product.restock_eta_earliest, product.restock_eta_latest),
            now=now,
            link_base=link_base,
            reason="eta_passed",
        )
    return len(overdue)
