"""Buyer routes: products, placing an order, its status, cancelling."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..credentials import new_order_id
from ..errors import IdempotencyKeyReused, ValidationFailed
from ..extension import get_state
from ..inventory import get_product
from ..models import IdempotencyKey, Order, Product
from ..orders import (
    PlaceOrder,
    buyer_secret,
    cancel_order,
    get_order_for_buyer,
    new_order_ref,
    place_order,
    prospective_order,
)
from .http import RouteDoc, bearer_token, documented, json_response, parse_body
from .schemas import OrderCreated, OrderIn, OrderOut, ProductList, ProductOut
from .serialize import order_fields, order_out, product_out

IDEMPOTENCY_SCOPE = "orders.create"


@documented(
    RouteDoc(
        "/products",
        ["GET"],
        "List products with price, tokens, stock, ETA and queue depth",
        "public",
        response=ProductList,
    )
)
def list_products() -> Response:
    state = get_state()

    def read(session: Session) -> ProductList:
        products = session.scalars(select(Product).order_by(Product.sku)).all()
        return ProductList(products=[product_out(session, p) for p in products])

    return json_response(state.read(read))


@documented(RouteDoc("/products/<sku>", ["GET"], "One product", "public", response=ProductOut))
def show_product(sku: str) -> Response:
    state = get_state()
    return json_response(state.read(lambda s: product_out(s, get_product(s, sku))))


@documented(
    RouteDoc(
        "/orders",
        ["POST"],
        "Reserve units: returns the order, its buyer secret (once) and the payment to make",
        "public",
        body=OrderIn,
        response=OrderCreated,
        status=201,
        headers={"Idempotency-Key": "Replays the first response for the same body; 409 for a different body"},
    )
)
def create_order() -> Response:
    state = get_state()
    body = parse_body(OrderIn)
    if body.quantity > state.settings.max_quantity:
        raise ValidationFailed(
            errors=[{"field": "quantity", "reason": f"must be at most {state.settings.max_quantity}"}]
        )
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise ValidationFailed(errors=[{"field": "Idempotency-Key", "reason": "must be 1 to 255 characters"}])
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if key is not None:
        replay = _replay(key, digest)
        if replay is not None:
            return replay

    product = state.read(lambda s: get_product(s, body.sku))
    if body.token not in product.tokens or body.token not in state.require_chain().tokens.keys() | {
        state.settings.native_symbol
    }:
        raise ValidationFailed(
            errors=[
                {"field": "token", "reason": f"not accepted for this product; use one of {product.tokens}"}
            ]
        )
    quoter = state.require_chain().require_quoter()
    request_ = PlaceOrder(
        sku=body.sku,
        quantity=body.quantity,
        token=body.token,
        email=body.email,
        payer=body.payer,
        shipping=body.shipping.model_dump(),
    )
    # Sanctions and embargo before any quote: a quote is bound to its payer and destination.
    gate = state.require_compliance()
    state.read(lambda s: gate.screen_placement(s, prospective_order(request_, product)))
    verified = bool(state.customer_verified and state.customer_verified(request, body.email))
    order_id, order_ref = new_order_id(), new_order_ref()
    # Priced and signed before any lock is taken: a rate read may touch the network.
    quote = quoter.quote(
        order_ref=order_ref,
        payer=body.payer,
        symbol=body.token,
        fiat_amount=product.price_amount * body.quantity,
        currency=product.price_currency,
        now=state.now(),
    )

    def work(session: Session) -> OrderCreated:
        placed = place_order(
            session,
            request_,
            quote,
            order_id=order_id,
            order_ref=order_ref,
            secret_key=state.settings.secret_key,
            now=state.now(),
            customer_verified=verified,
        )
        if key is not None:
            session.add(
                IdempotencyKey(
                    key=key,
                    scope=IDEMPOTENCY_SCOPE,
                    request_digest=digest,
                    order_id=placed.order.id,
                    created_at=state.now(),
                )
            )
            session.flush()
        return OrderCreated.model_validate(
            {**order_fields(state, session, placed.order), "secret": placed.secret}
        )

    try:
        created = state.transaction(work)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer as it did.
        if key is not None and (replay := _replay(key, digest)) is not None:
            return replay
        raise
    return json_response(created, 201, {"Location": f"{request.path}/{created.id}"})


def _replay(key: str, digest: str) -> Response | None:
    state = get_state()

    def read(session: Session) -> OrderCreated | None:
        row = session.get(IdempotencyKey, (key, IDEMPOTENCY_SCOPE))
        if row is None:
            return None
        if row.request_digest != digest:
            raise IdempotencyKeyReused("This Idempotency-Key was first used with a different body.")
        order = session.get(Order, row.order_id)
        assert order is not None
        return OrderCreated.model_validate(
            {**order_fields(state, session, order), "secret": buyer_secret(order, state.settings.secret_key)}
        )

    created = state.read(read)
    if created is None:
        return None
    return json_response(
        created, 201, {"Idempotent-Replayed": "true", "Location": f"{request.path}/{created.id}"}
    )


@documented(
    RouteDoc(
        "/orders/<order_id>",
        ["GET"],
        "Order status: queue position, ETA, deposit, timeline",
        "buyer",
        response=OrderOut,
    )
)
def show_order(order_id: str) -> Response:
    state = get_state()
    secret = bearer_token()
    return json_response(state.read(lambda s: order_out(state, s, get_order_for_buyer(s, order_id, secret))))


@documented(
    RouteDoc(
        "/orders/<order_id>/cancel",
        ["POST"],
        "Cancel; with a deposit held, refund it",
        "buyer",
        response=OrderOut,
    )
)
def cancel(order_id: str) -> Response:
    state = get_state()
    secret = bearer_token()

    def work(session: Session) -> OrderOut:
        get_order_for_buyer(session, order_id, secret)
        order = cancel_order(
            session, order_id, now=state.now(), reason="buyer", policy=state.settings.allocation
        )
        return order_out(state, session, order)

    return json_response(state.transaction(work))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/products", "list_products", list_products, methods=["GET"])
    bp.add_url_rule("/products/<sku>", "show_product", show_product, methods=["GET"])
    bp.add_url_rule("/orders", "create_order", create_order, methods=["POST"])
    bp.add_url_rule("/orders/<order_id>", "show_order", show_order, methods=["GET"])
    bp.add_url_rule("/orders/<order_id>/cancel", "cancel_order", cancel, methods=["POST"])
