"""The demand report: per product and day, what buyers reserved, cancelled and waited for, and how many
units to reorder.

Figures are recomputed from the append-only event table (the lifecycle replayed per order), so they are
the same however often the report runs:

- ``new_reservations`` / ``new_units``: deposits confirmed that day (an order counts when it is paid);
- ``cancellations``: orders cancelled or sent to refund that day;
- ``units_queued``: units in ``held`` orders at the end of the day;
- ``deposits_held``: fiat value of orders whose deposit sits in escrow at the end of the day (from deposit
  confirmation until fulfilled, refunded or reclaimed; frozen funds stay in escrow and stay counted);
- ``allocations`` / ``allocated_units``: orders and units allocated that day;
- ``avg_wait_days``: mean time from deposit confirmation to allocation of the orders allocated that day.

``suggested_reorder`` = units queued now + the recent daily rate of new units (over ``window_days``) times
the supplier lead time, rounded up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Event, Order, Product

LEAVES_ESCROW = frozenset({"fulfilled", "refunded", "reclaimed"})
CANCELS = frozenset({"order.cancelled", "refund.sent"})


@dataclass
class DayRow:
    day: date
    new_reservations: int = 0
    new_units: int = 0
    cancellations: int = 0
    units_queued: int = 0
    deposits_held: Decimal = Decimal("0.00")
    allocations: int = 0
    allocated_units: int = 0
    waits: list[float] = field(default_factory=list)

    @property
    def avg_wait_days(self) -> float | None:
        return round(sum(self.waits) / len(self.waits), 2) if self.waits else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "new_reservations": self.new_reservations,
            "new_units": self.new_units,
            "cancellations": self.cancellations,
            "units_queued": self.units_queued,
            "deposits_held": str(self.deposits_held),
            "allocations": self.allocations,
            "allocated_units": self.allocated_units,
            "avg_wait_days": self.avg_wait_days,
        }


@dataclass
class ProductReport:
    sku: str
    name: str
    currency: str
    days: list[DayRow]
    units_queued_now: int
    daily_rate: float
    lead_time_days: int
    suggested_reorder: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "currency": self.currency,
            "units_queued_now": self.units_queued_now,
            "daily_rate": round(self.daily_rate, 3),
            "lead_time_days": self.lead_time_days,
            "suggested_reorder": self.suggested_reorder,
            "days": [d.as_dict() for d in self.days],
        }


def demand_report(
    session: Session,
    *,
    start: date,
    end: date,
    lead_time_days: int = 30,
    window_days: int = 14,
    sku: str | None = None,
) -> list[ProductReport]:
    """The report for each product (or one) over ``[start, end]`` (UTC days)."""
    products = session.scalars(
        select(Product).order_by(Product.sku).where(Product.sku == sku if sku else Product.sku.is_not(None))
    ).all()
    return [_product_report(session, p, start, end, lead_time_days, window_days) for p in products]


def _product_report(
    session: Session, product: Product, start: date, end: date, lead_time: int, window: int
) -> ProductReport:
    orders = {
        oid: (qty, fiat)
        for oid, qty, fiat in session.execute(
            select(Order.id, Order.quantity, Order.fiat_amount).where(Order.sku == product.sku)
        )
    }
    days = {
        start + timedelta(days=i): DayRow(start + timedelta(days=i)) for i in range((end - start).days + 1)
    }
    queued: dict[str, int] = {}
    escrowed: dict[str, Decimal] = {}
    confirmed_at: dict[str, datetime] = {}
    daily_new_units: dict[date, int] = defaultdict(int)
    events = session.execute(
        select(Event.order_id, Event.type, Event.from_status, Event.to_status, Event.created_at)
        .where(Event.sku == product.sku, Event.order_id.is_not(None))
        .order_by(Event.created_at, Event.id)
    )
    day_cursor = start

    def close_days_until(day: date) -> None:
        nonlocal day_cursor
        while day_cursor < day and day_cursor <= end:
            if day_cursor in days:
                days[day_cursor].units_queued = sum(queued.values())
                days[day_cursor].deposits_held = sum(escrowed.values(), Decimal("0.00"))
            day_cursor += timedelta(days=1)

    for order_id, type_, from_status, to_status, at in events:
        if order_id is None:
            continue
        day = at.date()
        close_days_until(day)
        qty, fiat = orders.get(order_id, (0, Decimal(0)))
        row = days.get(day)
        if type_ == "deposit.confirmed":
            queued[order_id] = qty
            escrowed[order_id] = fiat
            confirmed_at[order_id] = at
            daily_new_units[day] += qty
            if row:
                row.new_reservations += 1
                row.new_units += qty
        elif from_status == "held" and to_status != "held":
            queued.pop(order_id, None)
        if to_status == "held" and type_ != "deposit.confirmed":
            queued[order_id] = qty  # back in the queue (e.g. a review approved without units)
        if to_status in LEAVES_ESCROW:
            escrowed.pop(order_id, None)
        if type_ in CANCELS and row:
            row.cancellations += 1
        if type_ == "order.allocated" and row:
            row.allocations += 1
            row.allocated_units += qty
            if order_id in confirmed_at:
                row.waits.append((at - confirmed_at[order_id]).total_seconds() / 86400)
    close_days_until(end + timedelta(days=1))

    units_now = sum(queued.values())
    recent = [end - timedelta(days=i) for i in range(window)]
    rate = sum(daily_new_units.get(d, 0) for d in recent) / window
    suggested = units_now + math.ceil(rate * lead_time)
    return ProductReport(
        sku=product.sku,
        name=product.name,
        currency=product.price_currency,
        days=list(days.values()),
        units_queued_now=units_now,
        daily_rate=rate,
        lead_time_days=lead_time,
        suggested_reorder=suggested,
    )


CSV_COLUMNS = [
    "sku",
    "day",
    "new_reservations",
    "new_units",
    "cancellations",
    "units_queued",
    "deposits_held",
    "currency",
    "allocations",
    "allocated_units",
    "avg_wait_days",
    "suggested_reorder",
]


def report_rows(reports: list[ProductReport]) -> list[dict[str, Any]]:
    """Flat rows (one per product and day) for CSV and the terminal."""
    rows = []
    for report in reports:
        for day in report.days:
            rows.append(
                {
                    "sku": report.sku,
                    **day.as_dict(),
                    "currency": report.currency,
                    "suggested_reorder": report.suggested_reorder,
                }
            )
    return rows
