"""A scripted day of a shop, run twice per seed: once clean, once with the web process and the worker killed
with SIGKILL at random moments and restarted. Final order states, chain balances and what the webhook
receiver got must be the same, and ``reconcile`` must find no drift.

The day: products, orders (ETH and USDC, with idempotency keys), deposits, a reorg that drops a deposit
before it is final (the buyer pays again), an ETA that slips (delay notices), a sanctions hit, restocks,
cancellations, shipments. Defaults keep CI short; ``BACKORDERS_CHAOS_SEEDS`` and ``BACKORDERS_CHAOS_ORDERS``
run the full size (20 seeds, 100 orders).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from .http_servers import WebhookReceiver
from .sdn import sdn_xml
from .support import ROOT, AnvilProcess, ChainEnv, anvil_env, in_ci

SEEDS = int(os.environ.get("BACKORDERS_CHAOS_SEEDS", "2"))
ORDERS = int(os.environ.get("BACKORDERS_CHAOS_ORDERS", "16"))
ADMIN_TOKEN = "chaos-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Supervised:
    """A process that is restarted whenever it dies (or is killed)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.cmd, self.env, self.log = name, cmd, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.start()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=out, stderr=out)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Chaos(threading.Thread):
    """Kills one of the processes at random moments until stopped."""

    def __init__(self, targets: list[Supervised], rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.targets, self.rng = targets, rng
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.rng.uniform(0.4, 1.6)):
            self.rng.choice(self.targets).kill()


class Shop:
    """The web process seen over HTTP, with retries: the process may be dead for a moment."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def call(
        self, method: str, path: str, ok: Callable[[requests.Response], bool] | None = None, **kwargs: Any
    ) -> requests.Response:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = self.http.request(method, self.url + path, timeout=20, **kwargs)
                if response.status_code < 500 and (ok is None or ok(response)):
                    return response
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} did not succeed")
            time.sleep(0.2)

    def status(self, order: dict[str, Any]) -> str:
        response = self.call(
            "GET", f"/backorders/orders/{order['id']}", headers={"Authorization": f"Bearer {order['secret']}"}
        )
        return str(response.json()["status"])

    def wait(self, order: dict[str, Any], wanted: set[str], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            current = self.status(order)
            if current in wanted:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"order {order['email']} stuck in {current}, wanted {wanted}")
            time.sleep(0.2)


def day(seed: int, chaos: bool, tmp: Path) -> dict[str, Any]:
    node = AnvilProcess(tmp / "anvil.log")
    receiver = WebhookReceiver()
    processes: list[Supervised] = []
    chaos_thread = None
    try:
        env_chain: ChainEnv = anvil_env(node)
        buyers = [Account.from_key(keccak(text=f"chaos-buyer-{seed}-{i}")) for i in range(8)]
        usdc = env_chain.contract("TestToken", env_chain.usdc)
        for buyer in buyers:
            env_chain.w3.provider.make_request("anvil_setBalance", [buyer.address, hex(10**22)])  # type: ignore[arg-type]
            env_chain.transact_owner(usdc.functions.mint(buyer.address, 10**12))
        port = free_port()
        config = {
            **env_chain.app_config(),
            "BACKORDERS_DATABASE_URL": f"sqlite:///{tmp / 'shop.sqlite3'}",
            "BACKORDERS_ADMIN_TOKEN": ADMIN_TOKEN,
            "SECRET_KEY": "chaos-secret-key-0123456789",
            "BACKORDERS_POLL_INTERVAL": 0.1,
            "BACKORDERS_RUN_WORKER": False,
            "BACKORDERS_FINALITY": 2,
            "BACKORDERS_WEBHOOK_TIMEOUT": 2,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
        env.update({"PYTHONPATH": str(ROOT), "BO_TEST_INSTANCE": str(tmp)})
        env.update({f"FLASK_{k}": json.dumps(v) for k, v in config.items()})
        # Migrate once before the processes start (both would otherwise race to create the schema).
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "tests.apps.env_app", "backorders", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        flask = [sys.executable, "-m", "flask", "--app", "tests.apps.env_app"]
        web = Supervised(
            "web", [*flask, "run", "--port", str(port), "--no-reload", "--with-threads"], env, tmp / "web.log"
        )
        worker = Supervised("worker", [*flask, "backorders", "watch"], env, tmp / "worker.log")
        processes = [web, worker]
        shop = Shop(f"http://127.0.0.1:{port}")
        shop.call("GET", "/backorders/products")
        if chaos:
            chaos_thread = Chaos(processes, random.Random(seed * 7919))
            chaos_thread.start()

        # Morning: the catalogue, the webhook endpoint, the sanctions list.
        for sku, eta in (("VAULT", "2027-01-31"), ("MINER", "2027-03-31")):
            shop.call(
                "PUT",
                f"/backorders/admin/products/{sku}",
                headers=ADMIN,
                json={
                    "name": sku.title(),
                    "price": {"amount": "100.00", "currency": "USD"},
                    "tokens": ["ETH", "USDC"],
                    "restock_eta": {"earliest": "2027-01-10", "latest": eta},
                },
            )
        shop.call(
            "POST",
            "/backorders/admin/webhooks",
            headers=ADMIN,
            ok=lambda r: r.status_code == 201,
            json={"url": receiver.url, "secret": "whsec_chaos_0123456789ab"},
        )
        load_list(env, tmp, [("OLD ENTRY", "ETH", "0x1111111111111111111111111111111111111111")])

        # Orders, each with an idempotency key; most get paid, in a fixed order.
        orders = []
        for i in range(ORDERS):
            buyer = buyers[i % len(buyers)]
            body = {
                "sku": "VAULT" if i % 3 else "MINER",
                "quantity": 1 + (i % 2),
                "token": "USDC" if i % 2 else "ETH",
                "email": f"e{i}@example.com",
                "payer": buyer.address,
                "shipping": {
                    "name": f"B{i}",
                    "line1": f"{i} Chaos St",
                    "city": "Lyon",
                    "postal_code": "69001",
                    "country": "FR",
                },
            }
            created = shop.call(
                "POST",
                "/backorders/orders",
                json=body,
                headers={"Idempotency-Key": f"k-{seed}-{i}"},
                ok=lambda r: r.status_code == 201,
            ).json()
            orders.append({**created, "email": body["email"], "buyer": buyer, "sku": body["sku"]})
        paid = [o for i, o in enumerate(orders) if i % 5 != 4]
        for index, order in enumerate(paid):
            pay(env_chain, order)
            if index == 2:
                # A reorg drops this deposit before it is final; the buyer pays again.
                env_chain.w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
                pay(env_chain, order)
        env_chain.mine(4)
        for order in paid:
            shop.wait(order, {"held"})

        # Midday: the miner's ETA slips; one buyer turns out to be sanctioned; stock arrives.
        shop.call(
            "PATCH",
            "/backorders/admin/products/MINER",
            headers=ADMIN,
            json={"restock_eta": {"earliest": "2027-04-01", "latest": "2027-05-15"}},
        )
        sanctioned = buyers[3]
        load_list(
            env,
            tmp,
            [
                ("OLD ENTRY", "ETH", "0x1111111111111111111111111111111111111111"),
                ("NEWLY LISTED", "ETH", sanctioned.address),
            ],
        )
        vault_units = sum(1 + (i % 2) for i in range(ORDERS) if i % 3 and i % 5 != 4) // 2
        shop.call(
            "POST",
            "/backorders/admin/products/VAULT/restock",
            headers=ADMIN,
            json={"quantity": vault_units},
            ok=lambda r: r.status_code == 200,
        )
        for order in paid:
            wanted = {"frozen"} if order["buyer"] == sanctioned else {"allocated", "held"}
            shop.wait(order, wanted)
        env_chain.mine(3)

        # Afternoon: some buyers cancel, everything allocated ships.
        for order in paid:
            state = shop.status(order)
            if order["buyer"] == sanctioned:
                continue
            if state == "held" and int(order["email"][1:].split("@")[0]) % 2 == 0:
                shop.call(
                    "POST",
                    f"/backorders/orders/{order['id']}/cancel",
                    headers={"Authorization": f"Bearer {order['secret']}"},
                    ok=lambda r: r.status_code in (200, 409),
                )
            elif state == "allocated":
                shop.call(
                    "POST",
                    f"/backorders/admin/orders/{order['id']}/ship",
                    headers=ADMIN,
                    json={"carrier": "DHL", "tracking": order["email"]},
                    ok=lambda r: r.status_code in (200, 409),
                )
        # Evening: everything settles.
        deadline = time.monotonic() + 180
        while True:
            env_chain.mine(1)
            states = {o["email"]: shop.status(o) for o in orders}
            if not set(states.values()) & {"deposit_pending", "refund_pending"} and all(
                states[o["email"]] != "allocated" for o in paid
            ):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the day did not settle: {states}")
            time.sleep(0.3)
        if chaos_thread is not None:
            chaos_thread.halt.set()
            chaos_thread.join()
        time.sleep(1.5)  # the last webhooks
        wait_webhooks_idle(env, tmp)
        code = subprocess.run(
            [*flask, "backorders", "reconcile"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        chain_balances = {
            "escrow_eth": env_chain.w3.eth.get_balance(env_chain.escrow),
            "escrow_usdc": env_chain.usdc_balance(env_chain.escrow),
            "payout_eth": env_chain.w3.eth.get_balance(env_chain.payout),
            "payout_usdc": env_chain.usdc_balance(env_chain.payout),
            "buyers_usdc": [env_chain.usdc_balance(b.address) for b in buyers],
        }
        seen: dict[str, tuple[str, str]] = {}
        for event in receiver.events():
            seen[event["id"]] = (
                event["data"]["order"]["email"] if event["data"].get("order") else "-",
                event["type"],
            )
        return {
            "states": {o["email"]: shop.status(o) for o in orders},
            "balances": chain_balances,
            "webhooks": sorted(seen.values()),
            "reconcile": (code.returncode, code.stdout),
            "kills": sum(p.kills for p in processes),
        }
    finally:
        if chaos_thread is not None:
            chaos_thread.halt.set()
        for process in processes:
            process.stop()
        receiver.stop()
        node.stop()


def pay(chain: ChainEnv, order: dict[str, Any]) -> None:
    account = order["buyer"]
    for tx in order["payment"]["transactions"]:
        fields = {
            "to": Web3.to_checksum_address(tx["to"]),
            "data": tx["data"],
            "value": int(tx["value"]),
            "chainId": chain.chain_id,
            "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
            "gas": 300_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
        }
        tx_hash = chain.w3.eth.send_raw_transaction(account.sign_transaction(fields).raw_transaction)
        # Mined before anything else happens: the reorg below must drop exactly this deposit's block.
        chain.w3.eth.wait_for_transaction_receipt(tx_hash)


def load_list(env: dict[str, str], tmp: Path, entries: list[tuple[str, str, str]]) -> None:
    path = tmp / f"sdn-{len(entries)}.xml"
    path.write_bytes(sdn_xml(entries))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "tests.apps.env_app",
            "backorders",
            "sanctions",
            "update",
            "--file",
            str(path),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def wait_webhooks_idle(env: dict[str, str], tmp: Path) -> None:
    """Deliver whatever is still due (a clean, single run of the deliverer)."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tests.apps.env_app", "backorders", "deliver", "--once"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize("seed", range(1, SEEDS + 1))
def test_a_day_with_crashes_ends_like_a_day_without(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from .support import ANVIL

    if not ANVIL.exists():
        if in_ci():
            pytest.fail("anvil is missing")
        pytest.skip("anvil is not installed (run npm ci)")
    clean = day(seed, chaos=False, tmp=tmp_path_factory.mktemp(f"clean-{seed}"))
    crashed = day(seed, chaos=True, tmp=tmp_path_factory.mktemp(f"chaos-{seed}"))
    assert crashed["kills"] >= 3, crashed["kills"]
    assert crashed["states"] == clean["states"]
    assert crashed["balances"] == clean["balances"]
    assert crashed["webhooks"] == clean["webhooks"]
    assert clean["reconcile"][0] == 0, clean["reconcile"]
    assert crashed["reconcile"][0] == 0, crashed["reconcile"]
    assert "frozen" in clean["states"].values() and "fulfilled" in clean["states"].values()
    assert "refunded" in clean["states"].values() and "awaiting_deposit" in clean["states"].values()
    print(
        f"seed {seed}: {crashed['kills']} kills survived, {len(clean['webhooks'])} webhook events, no drift"
    )
