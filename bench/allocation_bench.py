"""Restock allocation: N held orders of one product, one restock that covers them all (SQLite)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from flask_backorders.db import make_engine, make_session_factory, run_in_transaction
from flask_backorders.inventory import ProductInput, restock, upsert_product
from flask_backorders.migrate import upgrade
from flask_backorders.models import Order
from flask_backorders.states import OrderStatus

from .common import peak_memory, table, timed, write_json

SKU = "LAUNCH"


def seed(path: Path, n: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = datetime.now(UTC)
    sessions = make_session_factory(engine)
    run_in_transaction(
        sessions,
        lambda s: upsert_product(
            s,
            SKU,
            ProductInput(
                name="Launch wallet", price_amount=Decimal("129.00"), price_currency="USD", tokens=["ETH"]
            ),
            now=now,
        ),
    )
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": f"bo_{i:021d}",
                "sku": SKU,
                "quantity": 1,
                "status": OrderStatus.HELD,
                "email": f"{i}@x.io",
                "payer": "0x" + f"{i:040x}",
                "shipping": {},
                "shipping_digest": f"{i:064x}",
                "secret_hash": "0" * 64,
                "secret_nonce": "0" * 32,
                "fiat_amount": Decimal("129.00"),
                "currency": "USD",
                "token": "ETH",
                "amount": 43 * 10**15,
                "order_ref": "0x" + f"{i:064x}",
                "chain_id": 1,
                "quote_deadline": now,
                "hold_until": now,
                "queue_block": 1000 + i // 10,
                "queue_log_index": i % 10,
                "cancel_requested": False,
                "customer_verified": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(rows) == 5000:
            run_in_transaction(sessions, lambda s, r=rows: s.execute(insert(Order), r))
            rows = []
    if rows:
        run_in_transaction(sessions, lambda s: s.execute(insert(Order), rows))
    engine.dispose()


def allocate_all(path: Path, n: int) -> int:
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_session_factory(engine)
    result = run_in_transaction(sessions, lambda s: restock(s, SKU, n, now=datetime.now(UTC)))
    engine.dispose()
    assert result.allocated.orders == n, result.allocated
    return result.allocated.orders


def run(full: bool) -> str:
    sizes = [10_000, 100_000]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            seeded = Path(tmp) / f"seed-{n}.sqlite3"
            seed(seeded, n)
            timing, memory = Path(tmp) / f"t-{n}.sqlite3", Path(tmp) / f"m-{n}.sqlite3"
            shutil.copy(seeded, timing)
            shutil.copy(seeded, memory)
            _, seconds = timed(lambda p=timing, k=n: allocate_all(p, k))
            with peak_memory() as mem:
                allocate_all(memory, n)
            results.append({"orders": n, "seconds": seconds, "peak_bytes": mem["peak"]})
    small, large = results[0], results[-1]
    write_json(
        "allocation",
        {
            "runs": results,
            "time_ratio": large["seconds"] / small["seconds"],
            "memory_ratio": large["peak_bytes"] / small["peak_bytes"],
        },
    )
    rows = [
        [
            f"{r['orders']:,}",
            f"{r['seconds']:.2f}",
            f"{r['peak_bytes'] / 2**20:.1f}",
            f"{r['seconds'] / small['seconds']:.1f}x",
            f"{r['peak_bytes'] / small['peak_bytes']:.2f}x",
        ]
        for r in results
    ]
    return table(
        "Restock allocation, one restock covering the whole queue (SQLite)",
        ["held orders", "seconds", "peak MiB (tracemalloc)", "time vs 10k", "memory vs 10k"],
        rows,
    )
