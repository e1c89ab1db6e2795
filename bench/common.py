"""Shared pieces of the benchmarks: an anvil node with the escrow deployed, tables, JSON output, timing."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from flask_backorders.chain.artifacts import abi, bytecode
from flask_backorders.chain.client import http_web3

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
T = TypeVar("T")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def table(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_json(name: str, data: Any) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(
        json.dumps(
            {"measured_at": datetime.now(UTC).isoformat(), "machine": machine(), "results": data},
            indent=2,
            default=str,
        )
    )
    return path


@contextmanager
def peak_memory() -> Iterator[dict[str, int]]:
    """Peak Python allocations (tracemalloc) during the block, in bytes."""
    result: dict[str, int] = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


class Anvil:
    """A real anvil node (from npm) on a free port."""

    def __init__(self, log: Path, *extra: str) -> None:
        if not ANVIL.exists():
            raise SystemExit("anvil is not installed: run `npm ci` (./dev bench does)")
        self.log = log
        self._file = open(log, "w")
        self.proc = subprocess.Popen(
            [str(ANVIL), "--port", "0", "--host", "127.0.0.1", *extra],
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"Listening on (127\.0\.0\.1:\d+)", log.read_text())
            if match:
                self.url = f"http://{match.group(1)}"
                return
            time.sleep(0.05)
        raise RuntimeError("anvil did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._file.close()


@dataclass
class Deployment:
    w3: Web3
    url: str
    chain_id: int
    escrow: str
    usdc: str
    owner: str
    operator: LocalAccount
    payout: str
    start_block: int

    def config(self) -> dict[str, Any]:
        return {
            "BACKORDERS_RPC_URL": self.url,
            "BACKORDERS_CHAIN_ID": self.chain_id,
            "BACKORDERS_ESCROW_ADDRESS": self.escrow,
            "BACKORDERS_OPERATOR_KEY": "0x" + bytes(self.operator.key).hex(),
            "BACKORDERS_TOKENS": {"USDC": {"address": self.usdc, "decimals": 6, "currency": "USD"}},
            "BACKORDERS_ETH_RATE": "3000.00",
            "BACKORDERS_FINALITY": 2,
            "BACKORDERS_START_BLOCK": self.start_block,
        }


def deploy(url: str) -> Deployment:
    w3 = http_web3(url, timeout=30, retries=2)
    owner = w3.eth.accounts[0]
    operator = Account.create()
    w3.provider.make_request("anvil_setBalance", [operator.address, hex(10**22)])  # type: ignore[arg-type]

    def deploy_one(name: str, *args: Any) -> str:
        factory = w3.eth.contract(abi=abi(name), bytecode=bytecode(name))
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": owner}))
        return str(receipt["contractAddress"])

    usdc = deploy_one("TestToken", "USD Coin (bench)", "USDC", 6)
    payout = Account.create().address
    escrow = deploy_one("BackorderEscrow", owner, operator.address, payout, "0x" + "00" * 20, [usdc])
    return Deployment(
        w3=w3,
        url=url,
        chain_id=int(w3.eth.chain_id),
        escrow=escrow,
        usdc=usdc,
        owner=owner,
        operator=operator,
        payout=payout,
        start_block=int(w3.eth.block_number),
    )


def pay(
    w3: Web3, chain_id: int, account: LocalAccount, transactions: list[dict[str, str]], nonce: int
) -> int:
    """Send a payment object's transactions signed by ``account`` without waiting; returns the next nonce."""
    for tx in transactions:
        fields = {
            "to": Web3.to_checksum_address(tx["to"]),
            "data": tx["data"],
            "value": int(tx["value"]),
            "chainId": chain_id,
            "nonce": nonce,
            "gas": 300_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
        }
        w3.eth.send_raw_transaction(account.sign_transaction(fields).raw_transaction)
        nonce += 1
    return nonce
