"""Products, restocks and allocation of restocked units to the queue.

The queue of a product is its ``held`` orders in on-chain deposit order ``(block_number, log_index)``.
Allocation takes whole orders in that order; with the ``fill`` policy an order too large for the units left
is passed over for later, smaller ones, with ``strict`` allocation stops at it. The queue is read in keyset
batches and written with bulk statements, so a restock of 100,000 orders never holds them all in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from . import signals
from .errors import NotFound, ValidationFailed
from .lifecycle import order_snapshot, queue_signal, record_event
from .models import Allocation, Event, Order, Product, Restock
from .outbox import active_endpoints, publish_many, subscribed
from .states import QUEUED, OrderStatus

BATCH = 2000


@dataclass(frozen=True)
class ProductInput:
    """A product as the merchant describes it (the upsert body)."""

    name: str
    price_amount: Decimal
    price_currency: str
    tokens: list[str]
    restock_eta_earliest: date | None = None
    restock_eta_latest: date | None = None
    queue_cap: int | None = None
    per_customer_cap: int | None = None


@dataclass(frozen=True)
class QueueDepth:
    orders: int
    units: int


#: How many allocations a result lists one by one (the counts always cover all of them).
LISTED = 1000


@dataclass
class Allocated:
    """What an allocation run did: counts of all, and the first :data:`LISTED` (order id, units) pairs."""

    orders: int = 0
    units: int = 0
    listed: list[tuple[str, int]] = field(default_factory=list)

    def add(self, chosen: list[tuple[str, int]]) -> None:
        self.orders += len(chosen)
        self.units += sum(q for _, q in chosen)
        self.listed.extend(chosen[: max(LISTED - len(self.listed), 0)])


@dataclass(frozen=True)
class RestockResult:
    """What a restock did: the allocations made and the units left in stock."""

    restock_id: int
    allocated: Allocated
    stock_left: int

    @property
    def allocations(self) -> list[tuple[str, int]]:
        """The allocations, one by one (the first :data:`LISTED`; see ``allocated`` for the totals)."""
        return self.allocated.listed


def lock_product_for_update(session: Session, sku: str) -> Product:
    """Load a product with a row lock (PostgreSQL; SQLite's write lock is taken at BEGIN IMMEDIATE).

    Every service that changes a product's queue takes this lock first, so they serialise per product.
    """
    product = session.execute(
        select(Product).where(Product.sku == sku).with_for_update()
    ).scalar_one_or_none()
    if product is None:
        raise NotFound(f"No product with SKU {sku!r}.", sku=sku)
    return product


def get_product(session: Session, sku: str) -> Product:
    product = session.get(Product, sku)
    if product is None:
        raise NotFound(f"No product with SKU {sku!r}.", sku=sku)
    return product


def upsert_product(
    session: Session, sku: str, data: ProductInput, *, now: datetime, link_base: str = "/backorders"
) -> tuple[Product, bool]:
    """Create or replace a product; returns ``(product, created)``. A changed ETA records ``eta.changed``."""
    _check_eta(data.restock_eta_earliest, data.restock_eta_latest)
    product = session.execute(
        select(Product).where(Product.sku == sku).with_for_update()
    ).scalar_one_or_none()
    created = product is None
    if product is None:
        product = Product(sku=sku, stock_on_hand=0, created_at=now)
        session.add(product)
    old_eta = (product.restock_eta_earliest, product.restock_eta_latest)
    product.name = data.name
    product.price_amount = data.price_amount
    product.price_currency = data.price_currency
    product.tokens = list(data.tokens)
    product.restock_eta_earliest = data.restock_eta_earliest
    product.restock_eta_latest = data.restock_eta_latest
    product.queue_cap = data.queue_cap
    product.per_customer_cap = data.per_customer_cap
    product.updated_at = now
    session.flush()
    record_event(session, "product.created" if created else "product.updated", now=now, sku=sku)
    if not created and old_eta != (data.restock_eta_earliest, data.restock_eta_latest):
        _announce_eta(session, product, old_eta, now=now, link_base=link_base)
    return product, created


def set_eta(
    session: Session,
    sku: str,
    earliest: date | None,
    latest: date | None,
    *,
    now: datetime,
    link_base: str = "/backorders",
) -> Product:
    """Change a product's restock ETA and tell every open order about it."""
    _check_eta(earliest, latest)
    product = lock_product_for_update(session, sku)
    old = (product.restock_eta_earliest, product.restock_eta_latest)
    product.restock_eta_earliest, product.restock_eta_latest = earliest, latest
    product.updated_at = now
    if old != (earliest, latest):
        _announce_eta(session, product, old, now=now, link_base=link_base)
    return product


def _check_eta(earliest: date | None, latest: date | None) -> None:
    if earliest and latest and latest < earliest:
        raise ValidationFailed(
            errors=[{"field": "restock_eta.latest", "reason": "must not be before restock_eta.earliest"}]
        )


def _announce_eta(
    session: Session, product: Product, old: tuple[date | None, date | None], *, now: datetime, link_base: str
) -> None:
    from .notices import announce_eta

    product.eta_lapsed_at = None
    record_event(
        session,
        "product.eta_changed",
        now=now,
        sku=product.sku,
        previous={"earliest": _iso(old[0]), "latest": _iso(old[1])},
        restock_eta={
            "earliest": _iso(product.restock_eta_earliest),
            "latest": _iso(product.restock_eta_latest),
        },
    )
    announce_eta(session, product, old, now=now, link_base=link_base)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def queue_depth(session: Session, sku: str) -> QueueDepth:
    """Orders and units waiting for stock (quoted, depositing or held)."""
    orders, units = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.quantity), 0)).where(
            Order.sku == sku, Order.status.in_(QUEUED)
        )
    ).one()
    return QueueDepth(orders=int(orders), units=int(units))


def queue_position(session: Session, order: Order) -> tuple[int, int] | None:
    """``(position, units_ahead)`` of a held order in its product's queue, or None if it is not queued."""
    if order.status not in (OrderStatus.HELD, OrderStatus.COMPLIANCE_REVIEW) or order.queue_block is None:
        return None
    ahead, units = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.quantity), 0)).where(
            Order.sku == order.sku,
            Order.status == OrderStatus.HELD,
            tuple_(Order.queue_block, Order.queue_log_index) < (order.queue_block, order.queue_log_index),
        )
    ).one()
    return int(ahead) + 1, int(units)


def restock(
    session: Session, sku: str, quantity: int, *, now: datetime, policy: str = "fill", note: str | None = None
) -> RestockResult:
    """Add ``quantity`` units to stock and allocate them to the queue."""
    if quantity <= 0:
        raise ValidationFailed(errors=[{"field": "quantity", "reason": "must be a positive integer"}])
    product = lock_product_for_update(session, sku)
    row = Restock(sku=sku, quantity=quantity, note=note, created_at=now)
    session.add(row)
    session.flush()
    product.stock_on_hand += quantity
    product.updated_at = now
    record_event(session, "product.restocked", now=now, sku=sku, quantity=quantity, restock_id=row.id)
    allocated = allocate(session, product, now=now, policy=policy, restock_id=row.id)
    return RestockResult(restock_id=row.id, allocated=allocated, stock_left=product.stock_on_hand)


def allocate(
    session: Session, product: Product, *, now: datetime, policy: str = "fill", restock_id: int | None = None
) -> Allocated:
    """Allocate the product's stock on hand to its queue. The caller holds the product lock."""
    stock = product.stock_on_hand
    made = Allocated()
    last: tuple[int | None, int | None] | None = None
    while stock > 0:
        query = select(Order.id, Order.quantity, Order.queue_block, Order.queue_log_index).where(
            Order.sku == product.sku, Order.status == OrderStatus.HELD
        )
        if last is not None:
            query = query.where(tuple_(Order.queue_block, Order.queue_log_index) > last)
        batch = session.execute(query.order_by(Order.queue_block, Order.queue_log_index).limit(BATCH)).all()
        if not batch:
            break
        chosen: list[tuple[str, int]] = []
        stop = False
        for order_id, quantity, block, log_index in batch:
            last = (block, log_index)
            if quantity <= stock:
                chosen.append((order_id, quantity))
                stock -= quantity
                if stock == 0:
                    break
            elif policy == "strict":
                stop = True
                break
        _write_allocations(session, product.sku, chosen, now=now, restock_id=restock_id)
        made.add(chosen)
        if stop or len(batch) < BATCH:
            break
    product.stock_on_hand = stock
    return made


def _write_allocations(
    session: Session, sku: str, chosen: list[tuple[str, int]], *, now: datetime, restock_id: int | None
) -> None:
    if not chosen:
        return
    ids = [order_id for order_id, _ in chosen]
    result = session.execute(
        update(Order)
        .where(Order.id.in_(ids), Order.status == OrderStatus.HELD)
        .values(status=OrderStatus.ALLOCATED, updated_at=now, fulfilment_screened_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != len(ids):  # type: ignore[attr-defined]
        raise RuntimeError("the queue changed under the product lock")
    session.execute(
        insert(Allocation),
        [
            {"order_id": oid, "sku": sku, "quantity": qty, "restock_id": restock_id, "created_at": now}
            for oid, qty in chosen
        ],
    )
    session.execute(
        insert(Event),
        [
            {
                "order_id": oid,
                "sku": sku,
                "type": "order.allocated",
                "from_status": OrderStatus.HELD.value,
                "to_status": OrderStatus.ALLOCATED.value,
                "data": {"quantity": qty, "restock_id": restock_id},
                "created_at": now,
            }
            for oid, qty in chosen
        ],
    )
    # Orders already loaded in this session must not keep their stale status.
    allocated = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Order) and obj.id in allocated:
            session.expire(obj, ["status", "updated_at", "fulfilment_screened_at"])
    _announce_allocations(session, chosen, now=now, restock_id=restock_id)


def _announce_allocations(
    session: Session, chosen: list[tuple[str, int]], *, now: datetime, restock_id: int | None
) -> None:
    """Webhooks and signals for bulk allocations, built only when someone listens."""
    endpoints = [e for e in active_endpoints(session) if subscribed([e], "order.allocated")]
    if not endpoints and not signals.order_allocated.receivers:
        return
    orders = session.scalars(
        select(Order)
        .where(Order.id.in_([oid for oid, _ in chosen]))
        .execution_options(populate_existing=True)
    ).all()
    items = [(order_snapshot(o), {"quantity": o.quantity, "restock_id": restock_id}) for o in orders]
    publish_many(session, "order.allocated", items, now=now, endpoints=endpoints)
    if signals.order_allocated.receivers:
        for snapshot, data in items:
            queue_signal(session, "order.allocated", snapshot, data)


def release_allocation(session: Session, order: Order, *, now: datetime) -> int:
    """Return an order's allocated units to stock; returns how many."""
    rows = session.scalars(
        select(Allocation).where(Allocation.order_id == order.id, Allocation.released_at.is_(None))
    ).all()
    units = 0
    for allocation in rows:
        allocation.released_at = now
        units += allocation.quantity
    if units:
        product = lock_product_for_update(session, order.sku)
        product.stock_on_hand += units
        record_event(session, "allocation.released", now=now, order=order, quantity=units)
    return units
