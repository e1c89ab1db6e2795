"""The order lifecycle under random sequences of what buyers, the chain and the merchant do (a hypothesis
state machine over the real services and a real SQLite database).

After every step: each order's history only uses transitions of the table, units are conserved (restocked =
allocated + on hand), no order is allocated ahead of an earlier-deposited order that fits, and an order with
a final deposit never goes back to waiting for one.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select

from flask_backorders.db import make_engine, make_session_factory, run_in_transaction
from flask_backorders.deposits import DepositLog, ReleaseLog, record_deposit, record_release
from flask_backorders.errors import BackordersError
from flask_backorders.inventory import ProductInput, restock, upsert_product
from flask_backorders.migrate import upgrade
from flask_backorders.models import Allocation, Event, Order, Payout, Product, Restock
from flask_backorders.orders import PlaceOrder, cancel_order, new_order_ref, place_order, ship_order
from flask_backorders.quotes import Quote
from flask_backorders.states import TRANSITIONS, OrderStatus

from .concurrency import SECRET

S = OrderStatus
SKU = "MACHINE"


class LifecycleMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.engine = make_engine(f"sqlite:///{Path(self.tmp.name) / 'm.sqlite3'}")
        upgrade(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.now = datetime(2026, 11, 27, 12, tzinfo=UTC)
        self.block = 100
        self.orders: list[str] = []
        self.do(
            lambda s: upsert_product(
                s,
                SKU,
                ProductInput(name="M", price_amount=Decimal("10.00"), price_currency="USD", tokens=["ETH"]),
                now=self.now,
            )
        )

    def teardown(self) -> None:
        if hasattr(self, "engine"):
            self.engine.dispose()
            self.tmp.cleanup()

    def do(self, work: object) -> object:
        self.now += timedelta(seconds=1)
        try:
            return run_in_transaction(self.sessions, work)  # type: ignore[arg-type]
        except BackordersError:
            return None  # an illegal move is refused and changes nothing (checked by the invariants)

    def order(self, index: int) -> Order | None:
        if not self.orders:
            return None
        session = self.sessions()
        try:
            return session.get(Order, self.orders[index % len(self.orders)])
        finally:
            session.close()

    @rule(quantity=st.integers(1, 3))
    def place(self, quantity: int) -> None:
        order_id = f"bo_m{len(self.orders):019d}"
        quote = Quote(
            chain_id=1,
            escrow="0x" + "ee" * 20,
            token_symbol="ETH",
            token_address=None,
            decimals=18,
            amount=quantity * 10**16,
            deadline=self.now + timedelta(hours=1),
            hold_until=self.now + timedelta(days=30),
            signature="0x" + "00" * 65,
        )
        request = PlaceOrder(
            sku=SKU,
            quantity=quantity,
            token="ETH",
            email=f"{order_id}@x.io",
            payer="0x" + f"{len(self.orders) + 1:040x}",
            shipping={},
        )
        if (
            self.do(
                lambda s: place_order(
                    s,
                    request,
                    quote,
                    order_id=order_id,
                    order_ref=new_order_ref(),
                    secret_key=SECRET,
                    now=self.now,
                )
            )
            is not None
        ):
            self.orders.append(order_id)

    @precondition(lambda self: bool(self.orders))
    @rule(index=st.integers(0, 50), final=st.booleans())
    def deposit(self, index: int, final: bool) -> None:
        order = self.order(index)
        assert order is not None
        self.block += 1
        entry = DepositLog(
            chain_id=1,
            order_ref=order.order_ref,
            tx_hash="0x" + f"{self.block:064x}",
            log_index=0,
            block_number=self.block,
            block_hash="0x" + f"{self.block:064x}",
            payer=order.payer,
            token_address=None,
            amount=order.amount,
        )
        self.do(lambda s: record_deposit(s, entry, final=final, now=self.now))
        if final:
            return
        # The same log again, now final (the watcher's next tick).
        self.do(lambda s: record_deposit(s, entry, final=True, now=self.now))

    @rule(units=st.integers(1, 5))
    def restock(self, units: int) -> None:
        self.do(lambda s: restock(s, SKU, units, now=self.now))

    @precondition(lambda self: bool(self.orders))
    @rule(index=st.integers(0, 50))
    def cancel(self, index: int) -> None:
        order = self.order(index)
        assert order is not None
        self.do(lambda s: cancel_order(s, order.id, now=self.now))

    @precondition(lambda self: bool(self.orders))
    @rule(index=st.integers(0, 50))
    def ship(self, index: int) -> None:
        order = self.order(index)
        assert order is not None
        self.do(lambda s: ship_order(s, order.id, carrier="UPS", tracking="1", now=self.now))

    @precondition(lambda self: bool(self.orders))
    @rule(index=st.integers(0, 50))
    def chain_confirms_payouts(self, index: int) -> None:
        """The operator's capture or void lands on chain and is final."""
        order = self.order(index)
        assert order is not None
        session = self.sessions()
        payouts = list(
            session.scalars(
                select(Payout.kind).where(
                    Payout.order_id == order.id, Payout.status.in_(("pending", "ready", "sent"))
                )
            )
        )
        session.close()
        for kind in payouts:
            self.block += 1
            entry = ReleaseLog(
                chain_id=1,
                kind={"capture": "Captured", "void": "Voided"}[kind],
                order_ref=order.order_ref,
                tx_hash="0x" + f"{self.block:064x}",
                log_index=0,
                block_number=self.block,
                to=order.payer,
                amount=order.amount,
            )
            self.do(lambda s, e=entry: record_release(s, e, now=self.now))

    @invariant()
    def books_balance_and_history_is_legal(self) -> None:
        if not hasattr(self, "sessions"):
            return
        session = self.sessions()
        try:
            restocked = int(session.scalar(select(func.coalesce(func.sum(Restock.quantity), 0))) or 0)
            allocated = int(
                session.scalar(
                    select(func.coalesce(func.sum(Allocation.quantity), 0)).where(
                        Allocation.released_at.is_(None)
                    )
                )
                or 0
            )
            product = session.get(Product, SKU)
            assert product is not None
            assert allocated + product.stock_on_hand == restocked
            in_allocated_states = int(
                session.scalar(
                    select(func.coalesce(func.sum(Order.quantity), 0)).where(Order.status == S.ALLOCATED)
                )
                or 0
            )
            assert in_allocated_states <= allocated
            for order in session.scalars(select(Order)):
                steps = session.execute(
                    select(Event.from_status, Event.to_status)
                    .where(Event.order_id == order.id, Event.to_status.is_not(None))
                    .order_by(Event.id)
                ).all()
                previous = None
                for from_status, to_status in steps:
                    if from_status is not None:
                        assert S(to_status) in TRANSITIONS[S(from_status)], (from_status, to_status)
                        assert previous is None or previous == from_status, (previous, from_status)
                    previous = to_status
                assert previous == order.status
                if order.queue_block is not None:
                    assert order.status != S.AWAITING_DEPOSIT
            # Fill policy: a held order waits only while it does not fit.
            held = session.execute(
                select(Order.quantity).where(Order.sku == SKU, Order.status == S.HELD)
            ).all()
            if held:
                assert min(q for (q,) in held) > product.stock_on_hand
        finally:
            session.close()


def test_the_lifecycle_under_random_sequences() -> None:
    runner = LifecycleMachine.TestCase
    runner.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    runner().runTest()
