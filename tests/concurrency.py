"""Worker roles for the concurrency tests. Importable by spawned processes (PostgreSQL) and run as threads
(SQLite). Each role uses the real services over its own engine and sessions."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_account import Account
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_backorders.chain.quotes import ChainQuoter, QuoteSigner
from flask_backorders.chain.rates import FixedRates
from flask_backorders.config import Secret
from flask_backorders.credentials import new_order_id
from flask_backorders.db import make_engine, make_session_factory, run_in_transaction
from flask_backorders.deposits import DepositLog, record_deposit
from flask_backorders.errors import BackordersError, CustomerCapReached, QueueFull
from flask_backorders.inventory import restock
from flask_backorders.models import Order
from flask_backorders.orders import PlaceOrder, cancel_order, new_order_ref, place_order
from flask_backorders.states import OrderStatus

CHAIN_ID = 1337
ESCROW = "0x00000000000000000000000000000000000E5C00"
SECRET = Secret("concurrency-secret-key-0123456789")
OPERATOR = Secret("0x" + "11" * 32)
SKU = "LAUNCH-1"


def _quoter() -> ChainQuoter:
    return ChainQuoter(
        QuoteSigner(CHAIN_ID, ESCROW, OPERATOR),
        native_symbol="ETH",
        tokens={},
        rates=FixedRates({"USD": Decimal("3000")}),
        quote_ttl=3600,
        hold_days=30,
    )


def now() -> datetime:
    return datetime.now(UTC)


def place_orders(url: str, worker: int, count: int, policy: str) -> dict[str, Any]:
    """Place ``count`` orders of 1-3 units; returns the ids committed and the rejections."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    quoter = _quoter()
    rng = random.Random(worker)
    placed: list[str] = []
    rejected = 0
    for i in range(count):
        payer = Account.create().address
        quantity = rng.randint(1, 3)
        ref, order_id = new_order_ref(), new_order_id()
        quote = quoter.quote(
            order_ref=ref,
            payer=payer,
            symbol="ETH",
            fiat_amount=Decimal("99.00") * quantity,
            currency="USD",
            now=now(),
        )
        request = PlaceOrder(
            sku=SKU,
            quantity=quantity,
            token="ETH",
            email=f"w{worker}-{i}@example.com",
            payer=payer,
            shipping={"line1": f"{worker}-{i}"},
        )
        try:
            run_in_transaction(
                sessions,
                lambda s, r=request, q=quote, ref=ref, oid=order_id: place_order(
                    s, r, q, order_id=oid, order_ref=ref, secret_key=SECRET, now=now()
                ),
            )
            placed.append(order_id)
        except (QueueFull, CustomerCapReached):
            rejected += 1
    engine.dispose()
    return {"placed": placed, "rejected": rejected}


def credit_deposits(url: str, should_stop: Callable[[], bool], policy: str) -> int:
    """Play the watcher: credit waiting orders as final deposits, in increasing (block, log index)."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    block = 100
    credited = 0
    idle_rounds = 0
    while idle_rounds < 3:
        session = sessions()
        waiting = session.execute(
            select(Order.order_ref, Order.payer, Order.amount)
            .where(Order.status == OrderStatus.AWAITING_DEPOSIT)
            .order_by(Order.created_at)
            .limit(8)
        ).all()
        session.close()
        if not waiting:
            idle_rounds += 1 if should_stop() else 0
            time.sleep(0.01)
            continue
        idle_rounds = 0
        block += 1
        for log_index, (ref, payer, amount) in enumerate(waiting):
            entry = DepositLog(
                chain_id=CHAIN_ID,
                order_ref=ref,
                tx_hash="0x" + f"{block:032x}{log_index:032x}",
                log_index=log_index,
                block_number=block,
                block_hash="0x" + f"{block:064x}",
                payer=payer,
                token_address=None,
                amount=int(amount),
            )
            run_in_transaction(
                sessions, lambda s, e=entry: record_deposit(s, e, final=True, now=now(), policy=policy)
            )
            credited += 1
    engine.dispose()
    return credited


def cancel_and_restock(url: str, should_stop: Callable[[], bool], seed: int, policy: str) -> dict[str, int]:
    """Cancel random orders and restock small quantities until told to stop."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    cancelled = restocked = 0
    rounds = 0
    while not should_stop() or rounds < 30:  # at least 30 rounds, however fast the placers were
        rounds += 1
        if rng.random() < 0.5:
            session: Session = sessions()
            ids = list(
                session.scalars(
                    select(Order.id)
                    .where(
                        Order.status.in_(
                            [OrderStatus.AWAITING_DEPOSIT, OrderStatus.HELD, OrderStatus.ALLOCATED]
                        )
                    )
                    .limit(50)
                )
            )
            session.close()
            if ids:
                victim = rng.choice(ids)
                try:
                    run_in_transaction(
                        sessions, lambda s, oid=victim: cancel_order(s, oid, now=now(), policy=policy)
                    )
                    cancelled += 1
                except BackordersError:
                    pass  # it moved on meanwhile (e.g. just cancelled by someone else)
        else:
            units = rng.randint(1, 5)
            run_in_transaction(sessions, lambda s, u=units: restock(s, SKU, u, now=now(), policy=policy))
            restocked += units
        time.sleep(rng.uniform(0, 0.01))
    engine.dispose()
    return {"cancelled": cancelled, "restocked": restocked}


def http_client(url: str, worker: int, count: int, admin_token: str) -> dict[str, int]:
    """A buyer/merchant mix over HTTP: place, cancel some, restock now and then. Returns status counts."""
    import requests

    http = requests.Session()
    rng = random.Random(worker)
    seen: dict[str, int] = {}
    mine: list[tuple[str, str]] = []

    def note(response: requests.Response) -> None:
        key = str(response.status_code)
        seen[key] = seen.get(key, 0) + 1

    for i in range(count):
        payer = Account.create().address
        body = {
            "sku": SKU,
            "quantity": rng.randint(1, 3),
            "token": "ETH",
            "email": f"h{worker}-{i}@example.com",
            "payer": payer,
            "shipping": {
                "name": "H",
                "line1": f"{worker}-{i} Load St",
                "city": "Bonn",
                "postal_code": "53111",
                "country": "DE",
            },
        }
        response = http.post(f"{url}/backorders/orders", json=body, timeout=60)
        note(response)
        if response.status_code == 201:
            mine.append((response.json()["id"], response.json()["secret"]))
        if mine and rng.random() < 0.3:
            order_id, secret = mine.pop(rng.randrange(len(mine)))
            note(
                http.post(
                    f"{url}/backorders/orders/{order_id}/cancel",
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=60,
                )
            )
        if rng.random() < 0.15:
            note(
                http.post(
                    f"{url}/backorders/admin/products/{SKU}/restock",
                    json={"quantity": rng.randint(1, 4)},
                    headers={"Authorization": f"Bearer {admin_token}"},
                    timeout=60,
                )
            )
    return seen
