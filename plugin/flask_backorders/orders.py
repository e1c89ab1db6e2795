"""Order services: place, cancel, ship, refund, expire quotes, and what a buyer may see.

Plain functions over a :class:`~sqlalchemy.orm.Session`; the caller commits (see
:func:`flask_backorders.db.run_in_transaction`). None of them touches the network: the quote is made by the
caller's :class:`~flask_backorders.quotes.Quoter` before the product lock is taken.
"""

from __future__ import annotations

import hashlib
import re
import secrets as _random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import credentials
from .config import Secret
from .errors import CustomerCapReached, IllegalTransition, NotFound, QueueFull
from .inventory import allocate, lock_product_for_update, release_allocation
from .lifecycle import record_event, transition
from .models import Event, Order, Payout, Product
from .quotes import Quote
from .states import ACTIVE, FUNDED, QUEUED, OrderStatus

S = OrderStatus


@dataclass(frozen=True)
class PlaceOrder:
    """A buyer's reservation request (the order placement body, validated)."""

    sku: str
    quantity: int
    token: str
    email: str
    payer: str
    shipping: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlacedOrder:
    """A new order and its buyer secret (the only time the secret is available in clear)."""

    order: Order
    secret: str


def new_order_ref() -> str:
    """A random ``bytes32`` order reference as 0x-hex."""
    return "0x" + _random.token_hex(32)


def normalise_email(email: str) -> str:
    """Lowercase, without a ``+tag``, and without dots for Gmail: one mailbox, one customer."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def prospective_order(request: PlaceOrder, product: Product) -> Order:
    """An unsaved order for the placement checks (sanctions, embargo) that run before any quote."""
    order = Order(
        sku=product.sku,
        quantity=request.quantity,
        email=normalise_email(request.email),
        payer=request.payer,
        shipping=dict(request.shipping),
        shipping_digest=shipping_digest(request.shipping),
        fiat_amount=product.price_amount * request.quantity,
        currency=product.price_currency,
        token=request.token,
        customer_verified=False,
    )
    order.product = product
    return order


def mark_customer_verified(session: Session, order_id: str, *, now: datetime, verified: bool = True) -> Order:
    """Record that the shop verified the buyer's identity (KYC) for this order."""
    order = lock_order(session, order_id)
    order.customer_verified = verified
    order.updated_at = now
    record_event(session, "customer.verified" if verified else "customer.unverified", now=now, order=order)
    return order


def shipping_digest(shipping: dict[str, Any]) -> str:
    """A digest of the delivery address that ignores case, spacing and punctuation."""
    parts = [
        shipping.get(k) or "" for k in ("line1", "line2", "city", "postal_code", "country", "subdivision")
    ]
    text = "|".join(re.sub(r"[^0-9a-z]+", "", str(p).lower()) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def place_order(
    session: Session,
    request: PlaceOrder,
    quote: Quote,
    *,
    order_id: str,
    order_ref: str,
    secret_key: Secret,
    now: datetime,
    customer_verified: bool = False,
) -> PlacedOrder:
    """Create an ``awaiting_deposit`` order for an already signed ``quote``.

    Takes the product lock, then checks the queue cap and the per-customer cap against every active order
    of the same email, payer address or shipping address.
    """
    product = lock_product_for_update(session, request.sku)
    email = normalise_email(request.email)
    digest = shipping_digest(request.shipping)

    if product.queue_cap is not None:
        queued = session.scalar(
            select(func.coalesce(func.sum(Order.quantity), 0)).where(
                Order.sku == product.sku, Order.status.in_(QUEUED)
            )
        )
        if int(queued or 0) + request.quantity > product.queue_cap:
            raise QueueFull(
                f"Only {max(product.queue_cap - int(queued or 0), 0)} more unit(s) can be reserved.",
                sku=product.sku,
            )
    if product.per_customer_cap is not None:
        held = session.scalar(
            select(func.coalesce(func.sum(Order.quantity), 0)).where(
                Order.sku == product.sku,
                Order.status.in_(ACTIVE),
                or_(Order.email == email, Order.payer == request.payer, Order.shipping_digest == digest),
            )
        )
        if int(held or 0) + request.quantity > product.per_customer_cap:
            raise CustomerCapReached(
                f"At most {product.per_customer_cap} unit(s) of this product per customer.",
                sku=product.sku,
            )

    nonce = credentials.new_nonce()
    secret = credentials.derive_buyer_secret(secret_key, order_id, nonce)
    order = Order(
        id=order_id,
        sku=product.sku,
        quantity=request.quantity,
        status=S.AWAITING_DEPOSIT,
        email=email,
        payer=request.payer,
        shipping=dict(request.shipping),
        shipping_digest=digest,
        secret_hash=credentials.hash_secret(secret),
        secret_nonce=nonce,
        fiat_amount=product.price_amount * request.quantity,
        currency=product.price_currency,
        token=quote.token_symbol,
        amount=quote.amount,
        order_ref=order_ref,
        chain_id=quote.chain_id,
        quote_deadline=quote.deadline,
        hold_until=quote.hold_until,
        signature=quote.signature,
        cancel_requested=False,
        customer_verified=customer_verified,
        created_at=now,
        updated_at=now,
    )
    order.product = product
    order.deposits = []  # known empty: serialising the new order needs no query for it
    session.add(order)
    session.flush()
    record_event(
        session,
        "order.placed",
        now=now,
        order=order,
        to_status=S.AWAITING_DEPOSIT,
        quantity=request.quantity,
        token=quote.token_symbol,
        amount=str(quote.amount),
    )
    return PlacedOrder(order=order, secret=secret)


def buyer_secret(order: Order, secret_key: Secret) -> str:
    """Re-derive an order's buyer secret (for an idempotent replay of its placement)."""
    return credentials.derive_buyer_secret(secret_key, order.id, order.secret_nonce)


def get_order(session: Session, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("No such order.")
    return order


def get_order_for_buyer(session: Session, order_id: str, presented_secret: str | None) -> Order:
    """The order if ``presented_secret`` is its buyer secret; otherwise the same 404 as a missing order."""
    order = session.get(Order, order_id)
    stored = order.secret_hash if order is not None else "0" * 64
    if not credentials.secret_matches(presented_secret, stored) or order is None:
        raise NotFound("No such order.")
    return order


def lock_order(session: Session, order_id: str) -> Order:
    """Load an order with a row lock. Lock order: product first (when both are needed), then order."""
    order = session.execute(select(Order).where(Order.id == order_id).with_for_update()).scalar_one_or_none()
    if order is None:
        raise NotFound("No such order.")
    return order


def cancel_order(
    session: Session, order_id: str, *, now: datetime, reason: str = "buyer", policy: str = "fill"
) -> Order:
    """Cancel at the buyer's (or merchant's) request.

    Before a deposit the order is simply ``cancelled``. With funds in escrow the refund path starts
    (``refund_pending`` and a void intent); a deposit that is not final yet is refunded as soon as it is.
    """
    sku = session.scalar(select(Order.sku).where(Order.id == order_id))
    if sku is None:
        raise NotFound("No such order.")
    lock_product_for_update(session, sku)
    order = lock_order(session, order_id)
    status = S(order.status)
    if status == S.AWAITING_DEPOSIT:
        order.cancel_requested = True
        transition(session, order, S.CANCELLED, "order.cancelled", now=now, reason=reason)
    elif status == S.DEPOSIT_PENDING:
        order.cancel_requested = True
        order.updated_at = now
        record_event(session, "order.cancel_requested", now=now, order=order, reason=reason)
    elif status in FUNDED:
        start_refund(session, order, now=now, reason=reason, policy=policy)
    else:
        raise IllegalTransition(
            f"An order that is {status.value!r} cannot be cancelled.", current_status=status.value
        )
    return order


def start_refund(session: Session, order: Order, *, now: datetime, reason: str, policy: str = "fill") -> None:
    """Move a funded order to ``refund_pending``, release its units and record the void intent."""
    if order.status == S.REFUND_PENDING:
        return
    if _open_payout(session, order, "capture") is not None:
        raise IllegalTransition("The order is shipped and its capture is under way; it cannot be refunded.")
    transition(session, order, S.REFUND_PENDING, "refund.sent", now=now, reason=reason)
    request_payout(session, order, "void", now=now)
    if release_allocation(session, order, now=now):
        allocate(session, lock_product_for_update(session, order.sku), now=now, policy=policy)


def refund_order(
    session: Session, order_id: str, *, now: datetime, reason: str = "merchant", policy: str = "fill"
) -> Order:
    """Refund a funded order (merchant action)."""
    order = get_order(session, order_id)
    lock_product_for_update(session, order.sku)
    order = lock_order(session, order_id)
    if S(order.status) not in FUNDED or order.status == S.DEPOSIT_PENDING:
        raise IllegalTransition(
            f"An order that is {S(order.status).value!r} has no held deposit to refund.",
            current_status=S(order.status).value,
        )
    start_refund(session, order, now=now, reason=reason, policy=policy)
    return order


def ship_order(session: Session, order_id: str, *, carrier: str, tracking: str, now: datetime) -> Order:
    """Record the shipment of an allocated order and the capture intent that pays the merchant.

    The order becomes ``fulfilled`` when the capture is final on chain.
    """
    order = lock_order(session, order_id)
    if order.status != S.ALLOCATED:
        raise IllegalTransition(
            f"Only an allocated order can be shipped; this one is {S(order.status).value!r}.",
            current_status=S(order.status).value,
        )
    if _open_payout(session, order, "capture") is not None:
        raise IllegalTransition("This order is already shipped.", current_status=S(order.status).value)
    order.carrier, order.tracking, order.updated_at = carrier, tracking, now
    record_event(session, "order.shipped", now=now, order=order, carrier=carrier, tracking=tracking)
    request_payout(session, order, "capture", now=now)
    return order


def request_payout(session: Session, order: Order, kind: str, *, now: datetime) -> Payout:
    """Record the intent to capture or void an order's escrow.

    The intent starts ``pending``: the compliance gate must clear it (``ready``) before the payout sender
    sends anything.
    """
    payout = session.scalar(select(Payout).where(Payout.order_id == order.id, Payout.kind == kind))
    if payout is None:
        payout = Payout(
            order_id=order.id,
            kind=kind,
            status="pending",
            chain_id=order.chain_id,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(payout)
    elif payout.status in ("failed", "cancelled"):
        payout.status, payout.error, payout.updated_at = "pending", None, now
        payout.tx_hash = payout.raw_tx = None
        payout.nonce = None
    session.flush()
    return payout


def _open_payout(session: Session, order: Order, kind: str) -> Payout | None:
    return session.scalar(
        select(Payout).where(
            Payout.order_id == order.id, Payout.kind == kind, Payout.status.not_in(("failed", "cancelled"))
        )
    )


def expire_quotes(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Expire ``awaiting_deposit`` orders whose quote deadline has passed. Returns how many.

    A deposit the contract accepted before the deadline still revives the order when the watcher sees it.
    """
    stale = session.scalars(
        select(Order)
        .where(Order.status == S.AWAITING_DEPOSIT, Order.quote_deadline < now)
        .order_by(Order.quote_deadline)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for order in stale:
        transition(session, order, S.EXPIRED, "quote.expired", now=now)
    return len(stale)


def timeline(session: Session, order: Order) -> list[dict[str, Any]]:
    """The order's events, oldest first, as the buyer may see them."""
    rows = session.scalars(select(Event).where(Event.order_id == order.id).order_by(Event.id)).all()
    return [
        {"type": e.type, "status": e.to_status, "at": e.created_at.isoformat().replace("+00:00", "Z")}
        for e in rows
    ]


def cancel_via_notice(
    session: Session, order_id: str, notice_id: int, token: str, *, now: datetime, policy: str = "fill"
) -> tuple[Order, str]:
    """The buyer's one-click cancel-and-refund from a delay notice.

    Returns the order and ``"cancelled"`` (this click did it), ``"already"`` (the link was used, or the order
    is already cancelled or refunding) or ``"too_late"`` (shipped, frozen or otherwise final).
    """
    from .notices import find_notice

    notice = find_notice(session, order_id, notice_id, token)
    if notice is None:
        raise NotFound("No such order.")
    order = get_order(session, order_id)
    if notice.used_at is not None:
        return order, "already"
    notice.used_at = now
    status = S(order.status)
    if status in (S.CANCELLED, S.REFUND_PENDING, S.REFUNDED, S.EXPIRED) or order.cancel_requested:
        return order, "already"
    try:
        order = cancel_order(session, order_id, now=now, reason="delay notice", policy=policy)
    except IllegalTransition:
        return order, "too_late"
    return order, "cancelled"
