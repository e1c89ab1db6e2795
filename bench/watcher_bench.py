"""The chain watcher against the loop a merchant would write by hand, on anvil.

N orders wait for a deposit; D of them are paid (spread over blocks) and final. Baseline: every tick, read
each pending order's escrow state from the contract (``escrowOf``), credit the ones that are held. Ours:
``DepositWatcher.tick()`` (head, final block, one ``eth_getLogs``). Both are measured in the same run on the
same chain and database: RPC requests per tick, RPC requests and wall time to credit all deposits, memory.
"""

from __future__ import annotations

import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from flask import Flask
from hexbytes import HexBytes
from sqlalchemy import select

from flask_backorders import Backorders, get_state
from flask_backorders.chain.client import http_web3, request_counter
from flask_backorders.credentials import new_order_id
from flask_backorders.inventory import ProductInput, upsert_product
from flask_backorders.models import Order
from flask_backorders.orders import PlaceOrder, new_order_ref, place_order
from flask_backorders.states import OrderStatus

from .common import Anvil, deploy, pay, peak_memory, table, write_json


def make_app(tmp: Path, config: dict[str, Any]) -> Flask:
    app = Flask("bench", instance_path=str(tmp))
    app.config.update(
        SECRET_KEY="bench-secret-key-0123456789",
        TESTING=True,
        BACKORDERS_DATABASE_URL=f"sqlite:///{tmp / 'watch.sqlite3'}",
        **config,
    )
    Backorders(app)
    return app


def seed(app: Flask, n: int, paying: list[Any]) -> list[dict[str, Any]]:
    """N awaiting orders (ETH); the first len(paying) are bound to the paying accounts."""
    state = get_state(app)
    quoter = state.require_chain().require_quoter()
    now = state.now()
    state.transaction(
        lambda s: upsert_product(
            s,
            "LAUNCH",
            ProductInput(name="Launch", price_amount=Decimal("129.00"), price_currency="USD", tokens=["ETH"]),
            now=now,
        )
    )
    orders = []

    def batch(session: Any, start: int, stop: int) -> None:
        for i in range(start, stop):
            payer = paying[i].address if i < len(paying) else Account.create().address
            ref = new_order_ref()
            quote = quoter.quote(
                order_ref=ref,
                payer=payer,
                symbol="ETH",
                fiat_amount=Decimal("129.00"),
                currency="USD",
                now=now,
            )
            place_order(
                session,
                PlaceOrder(
                    sku="LAUNCH",
                    quantity=1,
                    token="ETH",
                    email=f"{i}@x.io",
                    payer=payer,
                    shipping={"line1": str(i)},
                ),
                quote,
                order_id=new_order_id(),
                order_ref=ref,
                secret_key=state.settings.secret_key,
                now=now,
            )
            if i < len(paying):
                orders.append({"ref": ref, "quote": quote, "account": paying[i]})

    for start in range(0, n, 1000):
        state.transaction(lambda s, a=start: batch(s, a, min(a + 1000, n)))
    return orders


def naive_tick(w3: Any, escrow: Any, refs: list[str], credited: set[str]) -> None:
    """What a merchant writes by hand: ask the contract about every pending order (one eth_call each;
    web3's ``contract.functions.escrowOf(ref).call()`` would add two eth_chainId requests per order)."""
    for ref in refs:
        if ref in credited:
            continue
        raw = w3.eth.call({"to": escrow.address, "data": escrow.encode_abi("escrowOf", [HexBytes(ref)])})
        state = w3.codec.decode(["address", "address", "uint256", "uint64", "uint8"], raw)
        if state[4] == 1:
            credited.add(ref)


def run_size(n: int, deposits: int, tmp: Path) -> dict[str, Any]:
    node = Anvil(tmp / f"anvil-{n}.log")
    try:
        dep = deploy(node.url)
        app = make_app(tmp, dep.config())
        state = get_state(app)
        runtime = state.require_chain()
        assert runtime.watcher is not None and runtime.escrow is not None
        paying = [Account.create() for _ in range(deposits)]
        for account in paying:
            dep.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        orders = seed(app, n, paying)
        # D deposits land over a block range (a few per block), then the chain moves past finality.
        from flask_backorders.chain.escrow import Escrow

        for i, order in enumerate(orders):
            txs = runtime.escrow.payment_transactions(order["ref"], order["quote"])
            pay(dep.w3, dep.chain_id, order["account"], txs, 0)
            if i % 5 == 4:
                dep.w3.provider.make_request("anvil_mine", ["0x1"])  # type: ignore[arg-type]
        dep.w3.provider.make_request("anvil_mine", ["0x3"])  # type: ignore[arg-type]

        # Baseline: its own client and counter, the same chain.
        w3 = http_web3(dep.url, timeout=30, retries=2)
        counter = request_counter(w3)
        assert counter is not None
        escrow = Escrow(w3, dep.escrow).contract
        pending = state.read(
            lambda s: list(
                s.scalars(select(Order.order_ref).where(Order.status == OrderStatus.AWAITING_DEPOSIT))
            )
        )
        credited: set[str] = set()
        started = time.perf_counter()
        ticks = 0
        while len(credited) < deposits:
            naive_tick(w3, escrow, pending, credited)
            ticks += 1
        naive_seconds = time.perf_counter() - started
        naive_requests = counter.total
        counter.reset()
        naive_tick(w3, escrow, [r for r in pending if r not in credited], credited)
        naive_per_tick = counter.total
        with peak_memory() as naive_mem:  # a second pass, for memory only (tracemalloc slows Python down)
            naive_tick(w3, escrow, pending, set())

        ours = request_counter(runtime.w3)
        assert ours is not None
        ours.reset()
        started = time.perf_counter()
        our_ticks = 0
        while (
            state.read(
                lambda s: len(list(s.scalars(select(Order.id).where(Order.status == OrderStatus.HELD))))
            )
            < deposits
        ):
            runtime.watcher.tick()
            our_ticks += 1
        our_seconds = time.perf_counter() - started
        our_requests = ours.total
        with peak_memory() as our_mem:  # re-scan the same range (idempotent), for memory only
            runtime.watcher.scan(dep.start_block, int(dep.w3.eth.block_number))
        dep.w3.provider.make_request("anvil_mine", ["0x1"])  # type: ignore[arg-type]
        ours.reset()
        runtime.watcher.tick()
        our_per_tick = ours.total
        state.close()
        return {
            "pending": n,
            "deposits": deposits,
            "naive": {
                "requests_per_tick": naive_per_tick,
                "requests_to_credit": naive_requests,
                "seconds_to_credit": naive_seconds,
                "ticks": ticks,
                "peak_bytes": naive_mem["peak"],
            },
            "ours": {
                "requests_per_tick": our_per_tick,
                "requests_to_credit": our_requests,
                "seconds_to_credit": our_seconds,
                "ticks": our_ticks,
                "peak_bytes": our_mem["peak"],
            },
        }
    finally:
        node.stop()


def run(full: bool) -> str:
    sizes = [100, 1000, 5000] if full else [100, 1000]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            size_dir = Path(tmp) / str(n)
            size_dir.mkdir()
            results.append(run_size(n, min(50, n), size_dir))
    write_json("watcher", results)
    rows = []
    for r in results:
        naive, ours = r["naive"], r["ours"]
        rows.append(
            [
                f"{r['pending']:,}",
                r["deposits"],
                naive["requests_per_tick"],
                ours["requests_per_tick"],
                naive["requests_to_credit"],
                ours["requests_to_credit"],
                f"{naive['requests_to_credit'] / ours['requests_to_credit']:.0f}x",
                f"{naive['seconds_to_credit']:.2f}",
                f"{ours['seconds_to_credit']:.3f}",
                f"{naive['seconds_to_credit'] / ours['seconds_to_credit']:.0f}x",
                f"{naive['peak_bytes'] / 2**20:.1f} / {ours['peak_bytes'] / 2**20:.1f}",
            ]
        )
    return table(
        "Watcher vs naive per-order polling (anvil)",
        [
            "pending orders",
            "deposits",
            "naive req/tick",
            "ours req/tick",
            "naive req to credit",
            "ours req to credit",
            "fewer requests",
            "naive s",
            "ours s",
            "faster",
            "peak MiB naive / ours",
        ],
        rows,
    )
