"""Placing an order end to end, for the JSON API and the reservation page alike: idempotency, token
checks, placement screening (sanctions, embargo), the quote (priced and signed before any lock), and the
order itself in one transaction with its idempotency key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .api.schemas import OrderIn
from .credentials import new_order_id
from .errors import IdempotencyKeyReused, ValidationFailed
from .extension import BackordersState
from .inventory import get_product
from .models import IdempotencyKey, Order, Product
from .orders import PlaceOrder, buyer_secret, new_order_ref, place_order, prospective_order

IDEMPOTENCY_SCOPE = "orders.create"

T = TypeVar("T")
Respond = Callable[[Session, Order, str], T]


@dataclass(frozen=True)
class Submitted(Generic[T]):
    """What ``respond`` made of the placed (or replayed) order, and whether it was a replay."""

    value: T
    replayed: bool = False


def place_request(body: OrderIn) -> PlaceOrder:
    """The service's request from a validated order body (API and reservation page alike)."""
    return PlaceOrder(
        sku=body.sku,
        quantity=body.quantity,
        token=body.token,
        email=body.email,
        payer=body.payer,
        shipping=body.shipping.model_dump(),
    )


def request_digest(request: PlaceOrder) -> str:
    data = {
        "sku": request.sku,
        "quantity": request.quantity,
        "token": request.token,
        "email": request.email,
        "payer": request.payer,
        "shipping": request.shipping,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def replay(state: BackordersState, key: str, digest: str, respond: Respond[T]) -> Submitted[T] | None:
    """The order first placed with this ``Idempotency-Key``; 409 if the request differs."""

    def read(session: Session) -> Submitted[T] | None:
        row = session.get(IdempotencyKey, (key, IDEMPOTENCY_SCOPE))
        if row is None:
            return None
        if row.request_digest != digest:
            raise IdempotencyKeyReused("This Idempotency-Key was first used with a different body.")
        order = session.get(Order, row.order_id)
        assert order is not None
        return Submitted(
            respond(session, order, buyer_secret(order, state.settings.secret_key)), replayed=True
        )

    return state.read(read)


def submit_order(
    state: BackordersState,
    request: PlaceOrder,
    respond: Respond[T],
    *,
    idempotency_key: str | None = None,
    customer_verified: bool = False,
) -> Submitted[T]:
    """Place ``request`` (or replay the order placed earlier with the same idempotency key).

    ``respond(session, order, secret)`` runs in the placing transaction (or the replay's read) and makes
    the answer, so the new order is serialised without another round trip to the database.
    """
    if request.quantity > state.settings.max_quantity:
        raise ValidationFailed(
            errors=[{"field": "quantity", "reason": f"must be at most {state.settings.max_quantity}"}]
        )
    digest = request_digest(request)
    if (
        idempotency_key is not None
        and (earlier := replay(state, idempotency_key, digest, respond)) is not None
    ):
        return earlier

    chain = state.require_chain()
    gate = state.require_compliance()

    def check(session: Session) -> Product:
        product = get_product(session, request.sku)
        if request.token not in product.tokens or request.token not in {
            *chain.tokens,
            state.settings.native_symbol,
        }:
            raise ValidationFailed(
                errors=[
                    {
                        "field": "token",
                        "reason": f"not accepted for this product; use one of {product.tokens}",
                    }
                ]
            )
        # Sanctions and embargo before any quote: a quote is bound to its payer and destination.
        gate.screen_placement(session, prospective_order(request, product))
        return product

    product = state.read(check)
    quoter = chain.require_quoter()
    order_id, order_ref = new_order_id(), new_order_ref()
    # Priced and signed before any lock is taken: a rate read may touch the network.
    quote = quoter.quote(
        order_ref=order_ref,
        payer=request.payer,
        symbol=request.token,
        fiat_amount=product.price_amount * request.quantity,
        currency=product.price_currency,
        now=state.now(),
    )

    def work(session: Session) -> Submitted[T]:
        placed = place_order(
            session,
            request,
            quote,
            order_id=order_id,
            order_ref=order_ref,
            secret_key=state.settings.secret_key,
            now=state.now(),
            customer_verified=customer_verified,
        )
        if idempotency_key is not None:
            session.add(
                IdempotencyKey(
                    key=idempotency_key,
                    scope=IDEMPOTENCY_SCOPE,
                    request_digest=digest,
                    order_id=placed.order.id,
                    created_at=state.now(),
                )
            )
            session.flush()
        return Submitted(respond(session, placed.order, placed.secret))

    try:
        return state.transaction(work)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer as it did.
        if (
            idempotency_key is not None
            and (earlier := replay(state, idempotency_key, digest, respond)) is not None
        ):
            return earlier
        raise
