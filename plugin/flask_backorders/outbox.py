"""The transactional outbox: an announced event and its webhook deliveries are rows written in the same
transaction as the change, so a change is never announced without happening, nor happens unannounced."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .models import OutboxEvent, WebhookDelivery, WebhookEndpoint

API_VERSION = "2026-11-01"


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(16)


def new_delivery_id() -> str:
    return "whd_" + secrets.token_urlsafe(16)


def subscribed(endpoints: Iterable[WebhookEndpoint], type_: str) -> list[WebhookEndpoint]:
    return [e for e in endpoints if "*" in e.event_types or type_ in e.event_types]


ENDPOINTS_CACHE = "flask_backorders.active_endpoints"


def active_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    """The active endpoints, read once per transaction (a restock or a watcher chunk writes many events)."""
    cached = session.info.get(ENDPOINTS_CACHE)
    if cached is None:
        cached = session.info[ENDPOINTS_CACHE] = session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
        ).all()
    return cached


def forget_endpoints(session: Session) -> None:
    session.info.pop(ENDPOINTS_CACHE, None)


def event_body(
    event_id: str, type_: str, created: datetime, order: dict[str, Any] | None, data: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body every receiver gets (``data.order`` is the full order snapshot)."""
    return {
        "id": event_id,
        "type": type_,
        "created": created.isoformat().replace("+00:00", "Z"),
        "api_version": API_VERSION,
        "data": {"order": order, **data},
    }


def _rows(
    type_: str,
    now: datetime,
    order: dict[str, Any] | None,
    data: dict[str, Any],
    targets: Sequence[WebhookEndpoint],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One event row and its pending deliveries."""
    event_id = new_event_id()
    event = {
        "id": event_id,
        "type": type_,
        "order_id": order["id"] if order else None,
        "payload": event_body(event_id, type_, now, order, data),
        "created_at": now,
    }
    deliveries = [
        {
            "id": new_delivery_id(),
            "event_id": event_id,
            "endpoint_id": e.id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in targets
    ]
    return event, deliveries


def publish(
    session: Session,
    type_: str,
    *,
    now: datetime,
    order: dict[str, Any] | None,
    data: dict[str, Any],
    endpoints: Sequence[WebhookEndpoint] | None = None,
) -> str | None:
    """Write the event and one pending delivery per subscribed endpoint. None when nobody subscribed."""
    targets = subscribed(active_endpoints(session) if endpoints is None else endpoints, type_)
    if not targets:
        return None
    event, deliveries = _rows(type_, now, order, data, targets)
    session.execute(insert(OutboxEvent), [event])
    session.execute(insert(WebhookDelivery), deliveries)
    return str(event["id"])


def publish_many(
    session: Session,
    type_: str,
    items: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    now: datetime,
    endpoints: Sequence[WebhookEndpoint],
) -> None:
    """Bulk :func:`publish` of one event type for many orders (restock allocation)."""
    targets = subscribed(endpoints, type_)
    if not targets or not items:
        return
    events, deliveries = [], []
    for order, data in items:
        event, rows = _rows(type_, now, order, data, targets)
        events.append(event)
        deliveries += rows
    session.execute(insert(OutboxEvent), events)
    session.execute(insert(WebhookDelivery), deliveries)
