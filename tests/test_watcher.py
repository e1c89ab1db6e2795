"""The chain watcher: finality, reorgs, RPC faults, request budget, late and cancelled deposits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from flask_backorders import get_state
from flask_backorders.models import Deposit, Event

from .conftest import MakeApp, put_product
from .flows import place, settle, status
from .rpc_proxy import FaultProxy
from .support import ChainEnv, Clock


@pytest.fixture
def proxy(anvil: ChainEnv) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(anvil.extra["url"])
    yield fault_proxy
    fault_proxy.stop()


def _count(app: object, model: type, *where: object) -> int:
    state = get_state(app)  # type: ignore[arg-type]
    return int(state.read(lambda s: s.scalar(select(func.count()).select_from(model).where(*where))))


def test_deposit_is_pending_until_final_then_held_on_the_next_tick(
    make_app: MakeApp, chain: ChainEnv
) -> None:
    app = make_app(chain, BACKORDERS_FINALITY=2)
    client = app.test_client()
    put_product(client)
    watcher = get_state(app).require_chain().watcher
    assert watcher is not None
    order = place(client, chain.buyers[0])
    chain.pay(chain.buyers[0], order["payment"])  # approve + deposit; the deposit is in the head block
    watcher.tick()
    assert status(client, order)["status"] == "deposit_pending"
    chain.mine(1)
    watcher.tick()
    assert status(client, order)["status"] == "deposit_pending"  # one confirmation of two
    chain.mine(1)
    watcher.tick()
    assert status(client, order)["status"] == "held"
    watcher.tick()
    assert _count(app, Deposit) == 1
    assert _count(app, Event, Event.type == "deposit.confirmed") == 1


def test_reorg_before_finality_unwinds_the_deposit(make_app: MakeApp, fresh_anvil: ChainEnv) -> None:
    anvil = fresh_anvil
    app = make_app(anvil, BACKORDERS_FINALITY=3)
    client = app.test_client()
    put_product(client)
    watcher = get_state(app).require_chain().watcher
    assert watcher is not None
    order = place(client, anvil.buyers[0], token="ETH")
    anvil.pay(anvil.buyers[0], order["payment"])
    watcher.tick()
    assert status(client, order)["status"] == "deposit_pending"

    anvil.w3.provider.make_request("anvil_reorg", [2, []])  # type: ignore[arg-type]
    assert anvil.w3.eth.get_balance(anvil.escrow) == 0
    watcher.tick()
    reopened = status(client, order)
    assert reopened["status"] == "awaiting_deposit"
    assert reopened["deposit"] is None
    assert "deposit.unwound" in [e["type"] for e in reopened["timeline"]]
    anvil.mine(5)
    watcher.tick()
    assert status(client, order)["status"] == "awaiting_deposit"  # never credited from the dropped log

    # The buyer pays again (same quote, still valid): credited normally.
    anvil.pay(anvil.buyers[0], order["payment"])
    settle(app, anvil)
    assert status(client, order)["status"] == "held"


def test_reorg_after_finality_does_not_unwind(make_app: MakeApp, fresh_anvil: ChainEnv) -> None:
    anvil = fresh_anvil
    app = make_app(anvil, BACKORDERS_FINALITY=2)
    client = app.test_client()
    put_product(client)
    order = place(client, anvil.buyers[0], token="ETH")
    anvil.pay(anvil.buyers[0], order["payment"])
    settle(app, anvil)
    assert status(client, order)["status"] == "held"
    anvil.w3.provider.make_request("anvil_reorg", [2, []])  # type: ignore[arg-type]
    settle(app, anvil)
    assert status(client, order)["status"] == "held"
    assert _count(app, Event, Event.type == "deposit.unwound") == 0


@pytest.mark.parametrize("fault", ["http503", "http429", "garbage", "drop", "rpc_error", "slow"])
def test_rpc_faults_never_credit_and_the_watcher_recovers(
    make_app: MakeApp, anvil: ChainEnv, proxy: FaultProxy, fault: str
) -> None:
    proxy.slow_seconds = 1.5
    app = make_app(anvil, BACKORDERS_RPC_URL=proxy.url, BACKORDERS_RPC_TIMEOUT=1, BACKORDERS_RPC_RETRIES=1)
    client = app.test_client()
    put_product(client)
    watcher = get_state(app).require_chain().watcher
    assert watcher is not None
    order = place(client, anvil.buyers[0])
    anvil.pay(anvil.buyers[0], order["payment"])
    anvil.mine(3)

    proxy.fail_next(3, fault, methods={"eth_getLogs"})
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 - any transport or decoding error
            watcher.tick()
        assert status(client, order)["status"] == "awaiting_deposit"
        assert _count(app, Deposit) == 0
    assert proxy.injected[fault] == 3

    watcher.tick()
    assert status(client, order)["status"] == "held"
    watcher.tick()
    assert _count(app, Deposit) == 1


def test_narrow_log_range_limits_are_respected_and_no_range_is_skipped(
    make_app: MakeApp, anvil: ChainEnv, proxy: FaultProxy
) -> None:
    proxy.max_log_range = 4
    app = make_app(anvil, BACKORDERS_RPC_URL=proxy.url, BACKORDERS_LOG_RANGE=4)
    client = app.test_client()
    put_product(client, queue_cap=None)
    orders = []
    for i in range(6):
        buyer = anvil.buyers[i % len(anvil.buyers)]
        order = place(
            client,
            buyer,
            email=f"b{i}@example.com",
            shipping={
                "name": "B",
                "line1": f"{i} Road",
                "city": "Oslo",
                "postal_code": "0150",
                "country": "NO",
            },
        )
        anvil.pay(buyer, order["payment"])
        anvil.mine(2)
        orders.append(order)
    settle(app, anvil)
    assert [status(client, o)["status"] for o in orders] == ["held"] * 6
    assert [status(client, o)["queue"]["position"] for o in orders] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("pending", [1, 100, 1000])
def test_rpc_requests_per_tick_do_not_grow_with_pending_orders(
    make_app: MakeApp, anvil: ChainEnv, pending: int
) -> None:
    from flask_backorders.credentials import new_order_id
    from flask_backorders.orders import PlaceOrder, new_order_ref, place_order

    app = make_app(anvil)
    client = app.test_client()
    put_product(client)
    state = get_state(app)
    runtime = state.require_chain()
    assert runtime.watcher is not None and runtime.quoter is not None
    buyer = anvil.buyers[0]

    def seed(session: object) -> None:
        for i in range(pending):
            ref = new_order_ref()
            quote = runtime.quoter.quote(
                order_ref=ref,
                payer=buyer.address,
                symbol="USDC",  # type: ignore[union-attr]
                fiat_amount=__import__("decimal").Decimal("129.00"),
                currency="USD",
                now=state.now(),
            )
            place_order(
                session,
                PlaceOrder(
                    sku="WALLET-T",
                    quantity=1,
                    token="USDC",
                    email=f"{i}@x.io",  # type: ignore[arg-type]
                    payer=buyer.address,
                    shipping={"line1": str(i)},
                ),
                quote,
                order_id=new_order_id(),
                order_ref=ref,
                secret_key=state.settings.secret_key,
                now=state.now(),
            )

    state.transaction(seed)
    paid = place(client, anvil.buyers[1])
    anvil.pay(anvil.buyers[1], paid["payment"])
    counter = runtime.w3.provider.counter  # type: ignore[attr-defined]
    counter.reset()
    runtime.watcher.tick()
    assert counter.total <= 3, dict(counter.by_method)
    anvil.mine(3)
    counter.reset()
    runtime.watcher.tick()
    assert counter.total <= 3, dict(counter.by_method)
    assert status(client, paid)["status"] == "held"


def test_a_late_deposit_revives_an_expired_order(make_app: MakeApp, chain: ChainEnv, clock: Clock) -> None:
    app = make_app(chain, BACKORDERS_QUOTE_TTL=600)
    client = app.test_client()
    put_product(client)
    watcher = get_state(app).require_chain().watcher
    assert watcher is not None
    order = place(client, chain.buyers[0])
    clock.advance(601)  # the server thinks the quote is over (its clock ran ahead of the chain)
    watcher.tick()
    assert status(client, order)["status"] == "expired"
    chain.pay(chain.buyers[0], order["payment"])  # the chain's time is still before the deadline
    settle(app, chain)
    revived = status(client, order)
    assert revived["status"] == "held"
    assert [e["status"] for e in revived["timeline"] if e["status"]][:4] == [
        "awaiting_deposit",
        "expired",
        "deposit_pending",
        "held",
    ]


def test_a_deposit_after_cancelling_is_refunded_automatically(make_app: MakeApp, chain: ChainEnv) -> None:
    app = make_app(chain)
    client = app.test_client()
    put_product(client)
    buyer = chain.buyers[4]
    order = place(client, buyer, token="ETH")
    headers = {"Authorization": f"Bearer {order['secret']}"}
    assert (
        client.post(f"/backorders/orders/{order['id']}/cancel", headers=headers).get_json()["status"]
        == "cancelled"
    )
    chain.pay(buyer, order["payment"])  # the wallet had already sent it
    settle(app, chain, rounds=2)
    assert status(client, order)["status"] == "refunded"
    assert chain.w3.eth.get_balance(chain.escrow) == 0


def test_under_random_faults_everywhere_the_cycle_completes_and_credits_once(
    make_app: MakeApp, anvil: ChainEnv, proxy: FaultProxy
) -> None:
    import random

    from .conftest import ADMIN
    from .flows import restock

    app = make_app(anvil, BACKORDERS_RPC_URL=proxy.url, BACKORDERS_RPC_TIMEOUT=1, BACKORDERS_RPC_RETRIES=1)
    client = app.test_client()
    put_product(client)
    state = get_state(app)
    runtime = state.require_chain()
    assert runtime.watcher is not None and runtime.sender is not None
    orders = [
        place(
            client,
            anvil.buyers[i],
            email=f"f{i}@example.com",
            shipping={
                "name": "F",
                "line1": f"{i} Fault Rd",
                "city": "Kyiv",
                "postal_code": "01001",
                "country": "UA",
                "subdivision": "UA-30",
            },
        )
        for i in range(3)
    ]
    for i, order in enumerate(orders):
        anvil.pay(anvil.buyers[i], order["payment"])
    proxy.slow_seconds = 1.2
    proxy.random_faults = (
        random.Random(5),
        0.3,
        ["http503", "http429", "garbage", "drop", "rpc_error", "slow"],
    )

    def worker_round() -> None:
        for step in (runtime.watcher.tick, state.require_compliance().tick, runtime.sender.tick):
            try:
                step()
            except Exception:  # noqa: S112 - a faulty RPC round; the next round carries on
                continue
        anvil.mine(1)

    for _ in range(60):
        worker_round()
        if all(status(client, o)["status"] == "held" for o in orders):
            break
    assert [status(client, o)["status"] for o in orders] == ["held"] * 3
    restock(client, 3)
    for order in orders:
        client.post(
            f"/backorders/admin/orders/{order['id']}/ship",
            json={"carrier": "UPS", "tracking": "1"},
            headers=ADMIN,
        )
    proxy.head_lag = 2  # and now the node behind the balancer also lags behind
    for _ in range(80):
        worker_round()
        if all(status(client, o)["status"] == "fulfilled" for o in orders):
            break
    assert [status(client, o)["status"] for o in orders] == ["fulfilled"] * 3
    assert sum(proxy.injected.values()) >= 10, proxy.injected
    assert _count(app, Deposit) == 3
    assert _count(app, Event, Event.type == "deposit.confirmed") == 3
    assert _count(app, Event, Event.type == "order.fulfilled") == 3
    assert anvil.usdc_balance(anvil.payout) == 3 * 129 * 10**6
