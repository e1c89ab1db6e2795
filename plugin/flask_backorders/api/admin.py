"""Merchant routes (deny-by-default admin auth): products, restock, orders, ship, refund."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, request
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..errors import NotFound, ValidationFailed
from ..extension import get_state
from ..inventory import ProductInput, get_product, restock, set_eta, upsert_product
from ..models import Order
from ..orders import get_order, refund_order, ship_order
from ..states import OrderStatus
from .http import RouteDoc, admin_required, bearer_token, documented, json_response, parse_body
from .schemas import (
    AdminOrderOut,
    AllocationOut,
    OrderPage,
    ProductIn,
    ProductOut,
    ProductPatch,
    RefundIn,
    RestockIn,
    RestockOut,
    ReviewIn,
    ShipIn,
)
from .serialize import admin_order_out, product_out


def _product_input(body: ProductIn) -> ProductInput:
    eta = body.restock_eta
    return ProductInput(
        name=body.name,
        price_amount=Decimal(body.price.amount),
        price_currency=body.price.currency,
        tokens=list(body.tokens),
        restock_eta_earliest=eta.earliest if eta else None,
        restock_eta_latest=eta.latest if eta else None,
        queue_cap=body.queue_cap,
        per_customer_cap=body.per_customer_cap,
    )


@documented(
    RouteDoc(
        "/admin/products/<sku>",
        ["PUT"],
        "Create or replace a product",
        "admin",
        body=ProductIn,
        response=ProductOut,
    )
)
@admin_required
def put_product(sku: str) -> Response:
    state = get_state()
    body = parse_body(ProductIn)
    _check_sku(sku)
    _check_tokens(body.tokens)

    def work(session: Session) -> tuple[ProductOut, bool]:
        product, created = upsert_product(
            session, sku, _product_input(body), now=state.now(), link_base=state.settings.link_base
        )
        return product_out(session, product), created

    out, created = state.transaction(work)
    return json_response(out, 201 if created else 200)


@documented(
    RouteDoc(
        "/admin/products/<sku>",
        ["PATCH"],
        "Change some fields, typically the restock ETA",
        "admin",
        body=ProductPatch,
        response=ProductOut,
    )
)
@admin_required
def patch_product(sku: str) -> Response:
    state = get_state()
    body = parse_body(ProductPatch)
    given = body.model_fields_set
    if body.tokens is not None:
        _check_tokens(body.tokens)

    def work(session: Session) -> ProductOut:
        product = get_product(session, sku)
        if given == {"restock_eta"}:
            eta = body.restock_eta
            product = set_eta(
                session,
                sku,
                eta.earliest if eta else None,
                eta.latest if eta else None,
                now=state.now(),
                link_base=state.settings.link_base,
            )
            return product_out(session, product)
        current = ProductIn(
            name=body.name or product.name,
            price=body.price or {"amount": str(product.price_amount), "currency": product.price_currency},
            tokens=body.tokens or list(product.tokens),
            restock_eta=body.restock_eta
            if "restock_eta" in given
            else {"earliest": product.restock_eta_earliest, "latest": product.restock_eta_latest},
            queue_cap=body.queue_cap if "queue_cap" in given else product.queue_cap,
            per_customer_cap=body.per_customer_cap
            if "per_customer_cap" in given
            else product.per_customer_cap,
        )
        product, _ = upsert_product(
            session, sku, _product_input(current), now=state.now(), link_base=state.settings.link_base
        )
        return product_out(session, product)

    return json_response(state.transaction(work))


@documented(
    RouteDoc(
        "/admin/products/<sku>/restock",
        ["POST"],
        "Add stock and allocate it to the queue",
        "admin",
        body=RestockIn,
        response=RestockOut,
    )
)
@admin_required
def restock_product(sku: str) -> Response:
    state = get_state()
    body = parse_body(RestockIn)

    def work(session: Session) -> RestockOut:
        result = restock(
            session, sku, body.quantity, now=state.now(), policy=state.settings.allocation, note=body.note
        )
        return RestockOut(
            restock_id=result.restock_id,
            allocations=[AllocationOut(order_id=o, quantity=q) for o, q in result.allocations],
            allocated_orders=result.allocated.orders,
            allocated_units=result.allocated.units,
            allocations_truncated=result.allocated.orders > len(result.allocations),
            stock_left=result.stock_left,
        )

    return json_response(state.transaction(work))


@documented(
    RouteDoc(
        "/admin/orders",
        ["GET"],
        "Orders, newest first; filter by status and sku",
        "admin",
        response=OrderPage,
        params={
            "status": "an order status",
            "sku": "a product SKU",
            "limit": "1-200 (default 50)",
            "cursor": "next_cursor of the previous page",
        },
    )
)
@admin_required
def list_orders() -> Response:
    state = get_state()
    status = request.args.get("status")
    sku = request.args.get("sku")
    cursor = request.args.get("cursor")
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        limit = 0
    errors = []
    if not 1 <= limit <= 200:
        errors.append({"field": "limit", "reason": "must be an integer from 1 to 200"})
    if status is not None and status not in {s.value for s in OrderStatus}:
        errors.append({"field": "status", "reason": f"must be one of {[s.value for s in OrderStatus]}"})
    if errors:
        raise ValidationFailed(errors=errors)

    def read(session: Session) -> OrderPage:
        query = select(Order)
        if status:
            query = query.where(Order.status == status)
        if sku:
            query = query.where(Order.sku == sku)
        if cursor:
            anchor = session.get(Order, cursor)
            if anchor is None:
                raise ValidationFailed(errors=[{"field": "cursor", "reason": "unknown cursor"}])
            query = query.where(tuple_(Order.created_at, Order.id) < (anchor.created_at, anchor.id))
        rows = session.scalars(
            query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
        ).all()
        page = rows[:limit]
        return OrderPage(
            orders=[admin_order_out(state, session, o) for o in page],
            next_cursor=page[-1].id if len(rows) > limit else None,
        )

    return json_response(state.read(read))


@documented(
    RouteDoc(
        "/admin/orders/<order_id>",
        ["GET"],
        "One order with the buyer's details",
        "admin",
        response=AdminOrderOut,
    )
)
@admin_required
def show_order(order_id: str) -> Response:
    state = get_state()
    return json_response(state.read(lambda s: admin_order_out(state, s, get_order(s, order_id))))


@documented(
    RouteDoc(
        "/admin/orders/<order_id>/ship",
        ["POST"],
        "Record the shipment; the escrow is captured",
        "admin",
        body=ShipIn,
        response=AdminOrderOut,
    )
)
@admin_required
def ship(order_id: str) -> Response:
    state = get_state()
    body = parse_body(ShipIn)

    def work(session: Session) -> AdminOrderOut:
        order = ship_order(session, order_id, carrier=body.carrier, tracking=body.tracking, now=state.now())
        return admin_order_out(state, session, order)

    return json_response(state.transaction(work))


@documented(
    RouteDoc(
        "/admin/orders/<order_id>/refund",
        ["POST"],
        "Refund: the escrow is voided to the payer",
        "admin",
        body=RefundIn,
        response=AdminOrderOut,
    )
)
@admin_required
def refund(order_id: str) -> Response:
    state = get_state()
    body = parse_body(RefundIn) if request.get_data() else RefundIn()

    def work(session: Session) -> AdminOrderOut:
        order = refund_order(
            session,
            order_id,
            now=state.now(),
            reason=body.reason or "merchant",
            policy=state.settings.allocation,
        )
        return admin_order_out(state, session, order)

    return json_response(state.transaction(work))


@documented(
    RouteDoc(
        "/admin/orders/<order_id>/review",
        ["POST"],
        "Decide a compliance review: approve or reject, with a note (recorded with who decided)",
        "admin",
        body=ReviewIn,
        response=AdminOrderOut,
    )
)
@admin_required
def review(order_id: str) -> Response:
    state = get_state()
    body = parse_body(ReviewIn)
    decided_by = (
        state.admin_identity(request)
        if state.admin_identity
        else ("admin-token" if state.settings.admin_token is not None and bearer_token() else "admin")
    )

    def work(session: Session) -> AdminOrderOut:
        order = state.require_compliance().decide_review(
            session, order_id, approve=body.decision == "approve", note=body.note, decided_by=decided_by
        )
        return admin_order_out(state, session, order)

    return json_response(state.transaction(work))


def _check_sku(sku: str) -> None:
    if not 1 <= len(sku) <= 64 or not all(c.isalnum() or c in "._-" for c in sku):
        raise ValidationFailed(errors=[{"field": "sku", "reason": "1-64 letters, digits, '.', '_' or '-'"}])


def _check_tokens(tokens: list[str]) -> None:
    state = get_state()
    accepted = set(state.settings.symbols) | set(state.chain.tokens if state.chain else ())
    unknown = [t for t in tokens if t not in accepted]
    if unknown:
        raise ValidationFailed(
            errors=[{"field": "tokens", "reason": f"not configured: {unknown}; accepted: {sorted(accepted)}"}]
        )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/admin/products/<sku>", "put_product", put_product, methods=["PUT"])
    bp.add_url_rule("/admin/products/<sku>", "patch_product", patch_product, methods=["PATCH"])
    bp.add_url_rule("/admin/products/<sku>/restock", "restock_product", restock_product, methods=["POST"])
    bp.add_url_rule("/admin/orders", "list_orders", list_orders, methods=["GET"])
    bp.add_url_rule("/admin/orders/<order_id>", "show_admin_order", show_order, methods=["GET"])
    bp.add_url_rule("/admin/orders/<order_id>/ship", "ship_order", ship, methods=["POST"])
    bp.add_url_rule("/admin/orders/<order_id>/refund", "refund_order", refund, methods=["POST"])
    bp.add_url_rule("/admin/orders/<order_id>/review", "review_order", review, methods=["POST"])


__all__ = ["NotFound", "register"]
