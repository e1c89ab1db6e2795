"""Merchant routes for what goes out: webhook endpoints, deliveries, redelivery, the demand report."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound, ValidationFailed
from ..extension import get_state
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..reports import CSV_COLUMNS, demand_report, report_rows
from ..webhooks import add_endpoint, redeliver
from .http import RouteDoc, admin_required, documented, json_response, parse_body
from .schemas import Strict


class WebhookIn(Strict):
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)]
    events: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default=["*"], min_length=1)
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    failing_since: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret: shown only in this response.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: str


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: list[AttemptOut]
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


class RedeliverOut(BaseModel):
    event_id: str
    redelivered: int


class DemandDay(BaseModel):
    day: str
    new_reservations: int
    new_units: int
    cancellations: int
    units_queued: int
    deposits_held: str
    allocations: int
    allocated_units: int
    avg_wait_days: float | None


class DemandProduct(BaseModel):
    sku: str
    name: str
    currency: str
    units_queued_now: int
    daily_rate: float
    lead_time_days: int
    suggested_reorder: int
    days: list[DemandDay]


class DemandReport(BaseModel):
    start: str
    end: str
    products: list[DemandProduct]


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _endpoint_out(e: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "url": e.url,
        "events": e.event_types,
        "active": e.active,
        "failing_since": _iso(e.failing_since),
    }


@documented(
    RouteDoc(
        "/admin/webhooks",
        ["POST"],
        "Register a webhook endpoint (its secret is shown once)",
        "admin",
        body=WebhookIn,
        response=WebhookCreated,
        status=201,
    )
)
@admin_required
def create_webhook() -> Response:
    state = get_state()
    body = parse_body(WebhookIn)

    def work(session: Session) -> WebhookCreated:
        endpoint, secret = add_endpoint(session, body.url, body.events, now=state.now(), secret=body.secret)
        return WebhookCreated.model_validate({**_endpoint_out(endpoint), "secret": secret})

    return json_response(state.transaction(work), 201)


@documented(
    RouteDoc(
        "/admin/webhooks",
        ["GET"],
        "Webhook endpoints, with the failing ones marked",
        "admin",
        response=WebhookList,
    )
)
@admin_required
def list_webhooks() -> Response:
    state = get_state()
    return json_response(
        state.read(
            lambda s: WebhookList.model_validate(
                {
                    "webhooks": [
                        _endpoint_out(e)
                        for e in s.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at))
                    ]
                }
            )
        )
    )


@documented(
    RouteDoc(
        "/admin/webhooks/<endpoint_id>",
        ["DELETE"],
        "Stop sending to an endpoint",
        "admin",
        response=WebhookOut,
    )
)
@admin_required
def delete_webhook(endpoint_id: str) -> Response:
    state = get_state()

    def work(session: Session) -> WebhookOut:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        endpoint.active = False
        return WebhookOut.model_validate(_endpoint_out(endpoint))

    return json_response(state.transaction(work))


@documented(
    RouteDoc(
        "/admin/webhooks/<endpoint_id>/deliveries",
        ["GET"],
        "The delivery log of an endpoint",
        "admin",
        response=DeliveryList,
        params={"limit": "1-200 (default 50)"},
    )
)
@admin_required
def list_deliveries(endpoint_id: str) -> Response:
    state = get_state()
    limit = min(
        max(int(request.args.get("limit", "50")) if request.args.get("limit", "").isdigit() else 50, 1), 200
    )

    def read(session: Session) -> DeliveryList:
        if session.get(WebhookEndpoint, endpoint_id) is None:
            raise NotFound("No such webhook endpoint.")
        from ..models import OutboxEvent

        rows = session.execute(
            select(WebhookDelivery, OutboxEvent.type)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        ).all()
        out = []
        for delivery, type_ in rows:
            attempts = session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery.id)
                .order_by(WebhookAttempt.id)
            ).all()
            out.append(
                {
                    "id": delivery.id,
                    "event_id": delivery.event_id,
                    "event_type": type_,
                    "status": delivery.status,
                    "attempts": [
                        {
                            "attempt": a.attempt,
                            "status_code": a.status_code,
                            "error": a.error,
                            "duration_ms": a.duration_ms,
                            "at": _iso(a.created_at),
                        }
                        for a in attempts
                    ],
                    "next_attempt_at": _iso(delivery.next_attempt_at)
                    if delivery.status == "pending"
                    else None,
                    "delivered_at": _iso(delivery.delivered_at),
                }
            )
        return DeliveryList.model_validate({"deliveries": out})

    return json_response(state.read(read))


@documented(
    RouteDoc(
        "/admin/events/<event_id>/redeliver",
        ["POST"],
        "Send an event again (same delivery ids)",
        "admin",
        response=RedeliverOut,
    )
)
@admin_required
def redeliver_event(event_id: str) -> Response:
    state = get_state()
    endpoint = request.args.get("endpoint")
    count = state.transaction(lambda s: redeliver(s, event_id, now=state.now(), endpoint_id=endpoint))
    return json_response(RedeliverOut(event_id=event_id, redelivered=count))


def _date_arg(name: str, default: date) -> date:
    value = request.args.get(name)
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(errors=[{"field": name, "reason": "must be a date like 2026-11-27"}]) from None


@documented(
    RouteDoc(
        "/admin/reports/demand",
        ["GET"],
        "Demand per product and day, with a suggested reorder "
        "quantity (JSON, or CSV with format=csv or Accept: text/csv)",
        "admin",
        response=DemandReport,
        produces=["application/json", "text/csv"],
        params={
            "from": "first day (default: 29 days before `to`)",
            "to": "last day (default: today)",
            "sku": "one product",
            "lead_time_days": "supplier lead time (default 30)",
            "format": "json or csv",
        },
    )
)
@admin_required
def demand() -> Response:
    state = get_state()
    end = _date_arg("to", state.now().date())
    start = _date_arg("from", end - timedelta(days=29))
    lead = request.args.get("lead_time_days", str(state.settings.reorder_lead_days))
    errors = []
    if not lead.isdigit() or int(lead) > 3650:
        errors.append({"field": "lead_time_days", "reason": "must be a whole number of days up to 3650"})
    if start > end or (end - start).days > 366:
        errors.append({"field": "from", "reason": "must be on or before `to`, at most 366 days earlier"})
    if errors:
        raise ValidationFailed(errors=errors)
    reports = state.read(
        lambda s: demand_report(
            s, start=start, end=end, lead_time_days=int(lead), sku=request.args.get("sku")
        )
    )
    wants_csv = request.args.get("format") == "csv" or (
        request.args.get("format") is None and request.accept_mimetypes.best == "text/csv"
    )
    if wants_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(report_rows(reports))
        response = current_app.response_class(buffer.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="demand-{start}-{end}.csv"'
        return response
    return json_response(
        DemandReport.model_validate(
            {"start": start.isoformat(), "end": end.isoformat(), "products": [r.as_dict() for r in reports]}
        )
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/admin/webhooks", "create_webhook", create_webhook, methods=["POST"])
    bp.add_url_rule("/admin/webhooks", "list_webhooks", list_webhooks, methods=["GET"])
    bp.add_url_rule("/admin/webhooks/<endpoint_id>", "delete_webhook", delete_webhook, methods=["DELETE"])
    bp.add_url_rule(
        "/admin/webhooks/<endpoint_id>/deliveries", "list_deliveries", list_deliveries, methods=["GET"]
    )
    bp.add_url_rule(
        "/admin/events/<event_id>/redeliver", "redeliver_event", redeliver_event, methods=["POST"]
    )
    bp.add_url_rule("/admin/reports/demand", "demand_report", demand, methods=["GET"])
