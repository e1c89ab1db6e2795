"""A watcher process killed with SIGKILL mid-scan and restarted credits every deposit exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from flask_backorders import get_state
from flask_backorders.models import ChainCursor, Deposit, Event

from .conftest import MakeApp, put_product
from .flows import place, status
from .support import ROOT, ChainEnv


def _env_for(config: dict[str, Any], instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["BO_TEST_INSTANCE"] = str(instance)
    for key, value in config.items():
        env[f"FLASK_{key}"] = json.dumps(value)  # strings too: "3000.00" must not become a float
    return env


def test_watcher_killed_mid_scan_credits_every_deposit_exactly_once(
    make_app: MakeApp, anvil: ChainEnv, sqlite_url: str, tmp_path: Path
) -> None:
    rng = random.Random(7)
    app = make_app(anvil)
    client = app.test_client()
    put_product(client)
    orders = []
    for i in range(24):
        buyer = anvil.buyers[i % len(anvil.buyers)]
        order = place(
            client,
            buyer,
            email=f"buyer{i}@example.com",
            shipping={
                "name": "N",
                "line1": f"{i} Main St",
                "city": "Lyon",
                "postal_code": "69001",
                "country": "FR",
            },
        )
        anvil.pay(buyer, order["payment"])
        orders.append(order)
    anvil.mine(5)

    config = {
        **{k: v for k, v in app.config.items() if k.startswith("BACKORDERS_")},
        "SECRET_KEY": app.config["SECRET_KEY"],
        "BACKORDERS_LOG_RANGE": 1,
        "BACKORDERS_POLL_INTERVAL": 0.05,
        "BACKORDERS_DATABASE_URL": sqlite_url,
    }
    env = _env_for(config, tmp_path / "instance")
    state = get_state(app)
    escrow = state.require_chain().escrow
    assert escrow is not None

    def cursor() -> int:
        row = state.read(lambda s: s.get(ChainCursor, (anvil.chain_id, escrow.address)))
        return row.block_number if row is not None else -1

    kills = 0
    target = int(anvil.w3.eth.block_number) - 2
    log_path = tmp_path / "watcher.log"
    for _ in range(12):
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "tests.apps.env_app", "backorders", "watch"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        start = cursor()
        deadline = time.monotonic() + 60
        # Kill it once it has made some progress, at a random moment.
        while cursor() <= start and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is not None:
            raise AssertionError(log_path.read_text()[-3000:])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if cursor() >= target:
            break
    assert kills >= 2

    # A last, clean run to finish whatever is left.
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tests.apps.env_app", "backorders", "watch", "--once"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert [status(client, o)["status"] for o in orders] == ["held"] * len(orders)
    assert state.read(lambda s: s.scalar(select(func.count()).select_from(Deposit))) == len(orders)
    confirmed = state.read(
        lambda s: s.scalar(select(func.count()).select_from(Event).where(Event.type == "deposit.confirmed"))
    )
    assert confirmed == len(orders)
    positions = sorted(status(client, o)["queue"]["position"] for o in orders)
    assert positions == list(range(1, len(orders) + 1))
