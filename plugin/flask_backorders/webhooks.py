"""Signed webhooks: delivery from the outbox with retries, the receiver's ``verify_webhook``, endpoints.

Each POST carries the event JSON and these headers:

- ``Backorders-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint secret>``
- ``Backorders-Event-Id`` (idempotency: the same event may arrive more than once; keep the ids you saw)
- ``Backorders-Delivery-Id`` (stable across the retries of one event to one endpoint)

A delivery is leased (``delivering``, with ``lease_until``) in its own transaction before the POST, so
several workers never send one event to one endpoint at the same time; a worker killed mid-delivery leaves
a lease that expires, and the delivery is sent again (at least once, never lost). 5xx, 408, 429 and network
errors are retried with exponential backoff and jitter for up to ``BACKORDERS_WEBHOOK_RETRY_HOURS`` (72);
then the delivery is ``dead`` and the endpoint is marked failing. Other 4xx answers are ``failed`` at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .db import run_in_transaction
from .errors import NotFound, ValidationFailed
from .models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .outbox import forget_endpoints

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Backorders-Signature"
RETRYABLE = frozenset({408, 429})
USER_AGENT = "Flask-Backorders-Webhooks/1"


class WebhookVerificationError(ValueError):
    """The payload, signature or timestamp did not verify."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The signature header value for ``payload`` at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_webhook(
    payload: bytes, header: str | None, secret: str, tolerance: int = 300, now: float | None = None
) -> dict[str, Any]:
    """Check a received webhook and return the event. Raises :class:`WebhookVerificationError`.

    ``payload`` is the raw request body (bytes, not re-serialised JSON); ``tolerance`` is how many seconds
    old the timestamp may be (replay protection).
    """
    if not header:
        raise WebhookVerificationError("no signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError, IndexError):
        raise WebhookVerificationError("no timestamp in the signature header") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("the timestamp is outside the tolerance (a replay?)")
    expected = sign(payload, secret, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise WebhookVerificationError("the signature does not match")
    try:
        event: dict[str, Any] = json.loads(payload)
    except ValueError:
        raise WebhookVerificationError("the payload is not JSON") from None
    return event


def backoff(attempt: int, *, base: float = 10.0, cap: float = 6 * 3600.0) -> timedelta:
    """Delay before the next attempt: exponential with full jitter (10 s, 20 s, 40 s ... up to 6 h)."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=ceiling / 2 + random.random() * ceiling / 2)


# ----------------------------------------------------------------- endpoints


def add_endpoint(
    session: Session, url: str, event_types: list[str], *, now: datetime, secret: str | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once)."""
    from .signals import BY_EVENT

    unknown = [t for t in event_types if t != "*" and t not in BY_EVENT]
    if unknown:
        raise ValidationFailed(errors=[{"field": "events", "reason": f"unknown event types: {unknown}"}])
    secret = secret or "whsec_" + secrets.token_urlsafe(24)
    endpoint = WebhookEndpoint(
        id="we_" + secrets.token_urlsafe(9),
        url=url,
        secret=secret,
        event_types=list(event_types),
        active=True,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    forget_endpoints(session)
    return endpoint, secret


def redeliver(session: Session, event_id: str, *, now: datetime, endpoint_id: str | None = None) -> int:
    """Send an event again (to one endpoint or all it went to). Delivery ids stay the same."""
    if session.get(OutboxEvent, event_id) is None:
        raise NotFound("No such event.")
    query = select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
    if endpoint_id:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    count = 0
    for delivery in session.scalars(query.with_for_update()):
        delivery.status, delivery.next_attempt_at, delivery.lease_until = "pending", now, None
        count += 1
    return count


# ------------------------------------------------------------------ delivery


class WebhookDeliverer:
    """Delivers due webhook deliveries; safe to run in several processes at once."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        clock: Callable[[], datetime],
        *,
        timeout: float = 10.0,
        retry_hours: float = 72.0,
        batch: int = 50,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.timeout = timeout
        self.retry_for = timedelta(hours=retry_hours)
        self.batch = batch
        self.http = requests.Session()

    def tick(self) -> int:
        """Deliver what is due; returns how many attempts were made."""
        attempts = 0
        while True:
            leased = run_in_transaction(self.session_factory, self._lease)
            if not leased:
                return attempts
            for item in leased:
                self._deliver(*item)
                attempts += 1

    def _lease(self, session: Session) -> list[tuple[str, str, bytes, str, int]]:
        now = self.clock()
        rows = session.scalars(
            select(WebhookDelivery)
            .where(
                or_(
                    (WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now),
                    (WebhookDelivery.status == "delivering") & (WebhookDelivery.lease_until < now),
                )
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        ).all()
        leased = []
        for delivery in rows:
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            event = session.get(OutboxEvent, delivery.event_id)
            assert endpoint is not None
            assert event is not None
            delivery.status = "delivering"
            delivery.lease_until = now + timedelta(seconds=self.timeout * 2 + 5)
            delivery.attempts += 1
            body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
            leased.append((delivery.id, endpoint.url, body, endpoint.secret, delivery.attempts))
        return leased

    def _deliver(self, delivery_id: str, url: str, body: bytes, secret: str, attempt: int) -> None:
        event_id = json.loads(body)["id"]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, secret, int(time.time())),
            "Backorders-Event-Id": event_id,
            "Backorders-Delivery-Id": delivery_id,
        }
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            response = self.http.post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
            code = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        duration = int((time.monotonic() - started) * 1000)
        run_in_transaction(
            self.session_factory, lambda s: self._record(s, delivery_id, attempt, code, error, duration)
        )

    def _record(
        self,
        session: Session,
        delivery_id: str,
        attempt: int,
        code: int | None,
        error: str | None,
        duration: int,
    ) -> None:
        now = self.clock()
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        assert delivery is not None
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                attempt=attempt,
                status_code=code,
                error=error,
                duration_ms=duration,
                created_at=now,
            )
        )
        delivery.last_status_code, delivery.last_error, delivery.lease_until = code, error, None
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        if code is not None and 200 <= code < 300:
            delivery.status, delivery.delivered_at = "succeeded", now
            endpoint.failing_since = None
            return
        if code is not None and code < 500 and code not in RETRYABLE:
            delivery.status = "failed"
            return
        if now - delivery.created_at >= self.retry_for:
            delivery.status = "dead"
            endpoint.failing_since = endpoint.failing_since or now
            log.warning("webhook endpoint %s is failing: gave up on delivery %s", endpoint.id, delivery_id)
            return
        delivery.status, delivery.next_attempt_at = "pending", now + backoff(attempt)
