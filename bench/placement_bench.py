"""Order placement through a real WSGI server (gunicorn, 2 workers) under load from a second process on
loopback, on SQLite and PostgreSQL; the baseline is a bare endpoint in the same server set-up."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flask_backorders.db import make_engine, make_session_factory, run_in_transaction
from flask_backorders.inventory import ProductInput, upsert_product
from flask_backorders.migrate import upgrade

from .apps import create_baseline_schema
from .common import ROOT, Anvil, deploy, table, write_json

BODY = {
    "sku": "LAUNCH",
    "quantity": 1,
    "token": "USDC",
    "email": "load@example.com",
    "payer": Account.from_key("0x" + "42" * 32).address,
    "shipping": {
        "name": "Load Test",
        "line1": "1 Bench St",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
}
LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(target: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            target,
        ],
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(1.0)  # both workers up
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()[-3000:]) from None
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def load(url: str, seconds: int, connections: int, tmp: Path) -> dict[str, float]:
    """Requests/s and latency percentiles from wrk (or, without wrk, a Python generator)."""
    script = tmp / "post.lua"
    script.write_text(LUA % json.dumps(BODY))
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

        def pct(p: str) -> float:
            match = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
            assert match, out
            value, unit = float(match.group(1)), match.group(2)
            return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {
            "rps": rps,
            "p50_ms": pct("50"),
            "p99_ms": pct("99"),
            "errors": int(non2xx.group(1)) if non2xx else 0,
            "tool": "wrk",
        }
    from .loadgen import run_load

    return run_load(url, json.dumps(BODY).encode(), seconds, connections)


def prepare_backorders_db(url: str, tmp: Path) -> None:
    engine = make_engine(url)
    upgrade(engine)
    from datetime import UTC, datetime

    run_in_transaction(
        make_session_factory(engine),
        lambda s: upsert_product(
            s,
            "LAUNCH",
            ProductInput(
                name="Launch wallet",
                price_amount=Decimal("129.00"),
                price_currency="USD",
                tokens=["USDC", "ETH"],
            ),
            now=datetime.now(UTC),
        ),
    )
    engine.dispose()


def fresh_pg_database(base: str, name: str) -> str:
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def run(full: bool) -> str:
    seconds = 20 if full else 8
    connections = 16
    pg = os.environ.get("BACKORDERS_TEST_POSTGRES_URL")
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        node = Anvil(tmp / "anvil.log")
        try:
            dep = deploy(node.url)
            databases = [("SQLite", f"sqlite:///{tmp / 'shop.sqlite3'}", f"sqlite:///{tmp / 'base.sqlite3'}")]
            if pg:
                databases.append(
                    (
                        "PostgreSQL",
                        fresh_pg_database(pg, "bo_bench_shop"),
                        fresh_pg_database(pg, "bo_bench_base"),
                    )
                )
            for label, shop_url, base_url in databases:
                prepare_backorders_db(shop_url, tmp)
                create_baseline_schema(base_url)
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "BENCH_INSTANCE": str(tmp),
                    "BENCH_BASELINE_DB": base_url,
                    "BENCH_BACKORDERS_CONFIG": json.dumps(
                        {**dep.config(), "BACKORDERS_DATABASE_URL": shop_url, "BACKORDERS_RUN_WORKER": False}
                    ),
                }
                row: dict[str, Any] = {"database": label}
                for name, target, path in (
                    ("baseline", "bench.apps:create_baseline_app()", "/orders"),
                    ("ours", "bench.apps:create_backorders_app()", "/backorders/orders"),
                ):
                    proc, url = start_gunicorn(target, env, tmp / f"{label}-{name}.log")
                    try:
                        load(url + path, 2, connections, tmp)  # warm up
                        row[name] = load(url + path, seconds, connections, tmp)
                    finally:
                        proc.terminate()
                        proc.wait(30)
                results.append(row)
        finally:
            node.stop()
    write_json("placement", results)
    rows = []
    for r in results:
        b, o = r["baseline"], r["ours"]
        rows.append(
            [
                r["database"],
                f"{b['rps']:.0f}",
                f"{o['rps']:.0f}",
                f"{o['rps'] / b['rps']:.2f}x",
                f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f}",
                f"{o['p50_ms']:.1f} / {o['p99_ms']:.1f}",
                f"{o['p99_ms'] / b['p99_ms']:.2f}x",
                f"{b['errors']} / {o['errors']}",
                o["tool"],
            ]
        )
    return table(
        f"Order placement, gunicorn 2 workers, {connections} connections, {seconds} s",
        [
            "database",
            "baseline req/s",
            "ours req/s",
            "ratio",
            "baseline p50 / p99 ms",
            "ours p50 / p99 ms",
            "p99 ratio",
            "non-2xx base / ours",
            "load tool",
        ],
        rows,
    )
