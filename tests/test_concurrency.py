"""Hundreds of orders for one capped product while deposits, restocks and cancels run concurrently:
threads on SQLite, processes on PostgreSQL. Afterwards the books must balance."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from flask_backorders.db import make_engine, make_session_factory, run_in_transaction
from flask_backorders.inventory import ProductInput, upsert_product
from flask_backorders.migrate import upgrade
from flask_backorders.models import Allocation, Order, Product, Restock
from flask_backorders.states import QUEUED, OrderStatus

from . import concurrency as roles

CAP = 150
PLACERS = 4
PER_PLACER = 75


def _setup(url: str, cap: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    run_in_transaction(
        make_session_factory(engine),
        lambda s: upsert_product(
            s,
            roles.SKU,
            ProductInput(
                name="Launch wallet",
                price_amount=Decimal("99.00"),
                price_currency="USD",
                tokens=["ETH"],
                queue_cap=cap,
            ),
            now=datetime.now(UTC),
        ),
    )
    engine.dispose()


def _check_books(url: str, placed: list[str], policy: str) -> dict[str, int]:
    engine = make_engine(url)
    session = make_session_factory(engine)()
    ids = list(session.scalars(select(Order.id)))
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(placed), "an order was lost or invented"
    restocked = int(session.scalar(select(func.coalesce(func.sum(Restock.quantity), 0))) or 0)
    allocated = int(
        session.scalar(
            select(func.coalesce(func.sum(Allocation.quantity), 0)).where(Allocation.released_at.is_(None))
        )
        or 0
    )
    stock = session.get(Product, roles.SKU).stock_on_hand  # type: ignore[union-attr]
    assert allocated <= restocked, "oversold"
    assert allocated + stock == restocked, "units appeared or vanished"
    allocated_orders = int(
        session.scalar(
            select(func.coalesce(func.sum(Order.quantity), 0)).where(Order.status == OrderStatus.ALLOCATED)
        )
        or 0
    )
    assert allocated_orders == allocated
    queued = int(
        session.scalar(select(func.coalesce(func.sum(Order.quantity), 0)).where(Order.status.in_(QUEUED)))
        or 0
    )
    assert queued <= CAP

    rows = session.execute(
        select(Order.status, Order.quantity, Order.queue_block, Order.queue_log_index).where(
            Order.status.in_([OrderStatus.HELD, OrderStatus.ALLOCATED])
        )
    ).all()
    held = [(r.queue_block, r.queue_log_index, r.quantity) for r in rows if r.status == OrderStatus.HELD]
    alloc = [
        (r.queue_block, r.queue_log_index, r.quantity) for r in rows if r.status == OrderStatus.ALLOCATED
    ]
    for h in held:
        for a in alloc:
            if h[:2] < a[:2]:
                # A later deposit was served while an earlier one waits: only allowed when the earlier one
                # did not fit (fill policy), never under strict queue order.
                assert policy == "fill" and h[2] > a[2], (h, a)
    if stock > 0 and held:
        assert policy == "strict" or min(q for *_, q in held) > stock, "stock left while an order fits"
    session.close()
    engine.dispose()
    return {"orders": len(ids), "restocked": restocked, "allocated": allocated, "held": len(held)}


def _run(url: str, policy: str, executor_factory: Any, stop: Any) -> tuple[list[str], dict[str, int]]:
    with executor_factory() as pool:
        placers = [pool.submit(roles.place_orders, url, w, PER_PLACER, policy) for w in range(PLACERS)]
        crediter = pool.submit(roles.credit_deposits, url, stop.is_set, policy)
        churn = pool.submit(roles.cancel_and_restock, url, stop.is_set, 99, policy)
        results = [f.result(timeout=300) for f in placers]
        stop.set()
        crediter.result(timeout=300)
        counts = churn.result(timeout=300)
    placed = [oid for r in results for oid in r["placed"]]
    assert sum(len(r["placed"]) + r["rejected"] for r in results) == PLACERS * PER_PLACER
    assert any(r["rejected"] for r in results), "the queue cap was never reached"
    return placed, counts


@pytest.mark.parametrize("policy", ["fill", "strict"])
def test_sqlite_threads_never_oversell_or_lose_orders(sqlite_url: str, policy: str) -> None:
    _setup(sqlite_url, CAP)
    stop = threading.Event()
    placed, counts = _run(sqlite_url, policy, lambda: ThreadPoolExecutor(max_workers=PLACERS + 2), stop)
    books = _check_books(sqlite_url, placed, policy)
    print(policy, books, counts)
    assert books["orders"] >= CAP // 3 and counts["restocked"] > 0 and counts["cancelled"] > 0


@pytest.mark.parametrize("policy", ["fill", "strict"])
def test_postgres_processes_never_oversell_or_lose_orders(postgres_url: str, policy: str) -> None:
    _setup(postgres_url, CAP)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        stop = manager.Event()
        placed, counts = _run(
            postgres_url,
            policy,
            lambda: ProcessPoolExecutor(max_workers=PLACERS + 2, mp_context=context),
            stop,
        )
    books = _check_books(postgres_url, placed, policy)
    print(policy, books, counts)
    assert books["orders"] >= CAP // 3 and counts["restocked"] > 0 and counts["cancelled"] > 0


def test_postgres_over_http_with_four_server_processes_never_answers_500(
    postgres_url: str, anvil: Any, tmp_path: Any
) -> None:
    """4 gunicorn workers on PostgreSQL, 4 client processes placing, cancelling and restocking at once."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time

    from .support import ROOT

    _setup(postgres_url, CAP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "http-admin-token-0123456789"
    config = {
        **anvil.app_config(),
        "BACKORDERS_DATABASE_URL": postgres_url,
        "BACKORDERS_ADMIN_TOKEN": token,
        "SECRET_KEY": "http-load-secret-key-0123456789",
        "BACKORDERS_AUTO_MIGRATE": False,
        "BACKORDERS_RUN_WORKER": False,
        "BACKORDERS_MAX_QUANTITY": 3,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update({"PYTHONPATH": str(ROOT), "BO_TEST_INSTANCE": str(tmp_path)})
    env.update({f"FLASK_{k}": json.dumps(v) for k, v in config.items()})
    log = tmp_path / "gunicorn.log"
    log_file = open(log, "wb")  # noqa: SIM115 - closed below, after the server
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "tests.apps.env_app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, log.read_text()[-3000:]
                time.sleep(0.2)
        time.sleep(2)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
            results = list(
                pool.map(roles.http_client, [f"http://127.0.0.1:{port}"] * 4, range(4), [40] * 4, [token] * 4)
            )
    finally:
        server.terminate()
        server.wait(30)
        log_file.close()
    statuses: dict[str, int] = {}
    for seen in results:
        for code, n in seen.items():
            statuses[code] = statuses.get(code, 0) + n
    assert not [c for c in statuses if c.startswith("5")], (statuses, log.read_text()[-3000:])
    assert statuses.get("201", 0) >= 40 and statuses.get("409", 0) > 0, statuses
    engine = make_engine(postgres_url)
    session = make_session_factory(engine)()
    ids = list(session.scalars(select(Order.id)))
    assert len(ids) == len(set(ids)) == statuses["201"]
    placed_units = int(session.scalar(select(func.coalesce(func.sum(Restock.quantity), 0))) or 0)
    allocated = int(
        session.scalar(
            select(func.coalesce(func.sum(Allocation.quantity), 0)).where(Allocation.released_at.is_(None))
        )
        or 0
    )
    stock = session.get(Product, roles.SKU).stock_on_hand  # type: ignore[union-attr]
    assert allocated + stock == placed_units
    session.close()
    engine.dispose()
