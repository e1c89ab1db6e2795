"""Test helpers: a controllable clock, an anvil process, chain environments and a buyer's wallet."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from flask_backorders.chain.artifacts import abi, bytecode
from flask_backorders.chain.client import http_web3
from flask_backorders.chain.embedded import EmbeddedChain, start_embedded_chain
from flask_backorders.chain.escrow import decode_revert
from flask_backorders.config import Secret

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
ZERO = "0x0000000000000000000000000000000000000000"


class Clock:
    """The server clock of a test: real time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def set_to(self, when: datetime) -> None:
        """From now on, time runs from ``when`` (forward only: the chain's clock does not move back)."""
        self.offset = when - datetime.now(UTC)


class AnvilProcess:
    """A real anvil node from the npm package, on a free port."""

    def __init__(self, log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        self.log_file = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(ANVIL), "--port", "0", "--host", "127.0.0.1", *extra],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        self.url = self._wait_for_port()

    def _wait_for_port(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"Listening on (127\.0\.0\.1:\d+)", self.log_path.read_text())
            if match:
                return f"http://{match.group(1)}"
            if self.proc.poll() is not None:
                raise RuntimeError(f"anvil exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("anvil did not start within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()


@dataclass
class Buyer:
    """A buyer's wallet: a real key that signs its own transactions."""

    account: LocalAccount

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class ChainEnv:
    """A chain with the escrow deployed, as a test sees it (embedded EVM or anvil)."""

    name: str
    w3: Web3
    chain_id: int
    escrow: str
    usdc: str
    oracle: str
    owner: str
    payout: str
    operator: LocalAccount
    buyers: list[Buyer]
    start_block: int
    embedded: EmbeddedChain | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------- contracts

    def contract(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi(name))

    @property
    def escrow_contract(self) -> Any:
        return self.contract("BackorderEscrow", self.escrow)

    def deploy(self, name: str, *args: Any) -> str:
        factory = self.w3.eth.contract(abi=abi(name), bytecode=bytecode(name))
        tx_hash = factory.constructor(*args).transact({"from": self.owner})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return str(receipt["contractAddress"])

    def transact_owner(self, fn: Any) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": self.owner}))
        assert receipt["status"] == 1
        return receipt

    def usdc_balance(self, address: str) -> int:
        return int(self.contract("TestToken", self.usdc).functions.balanceOf(address).call())

    # ------------------------------------------------------------------ time

    def mine(self, blocks: int = 1) -> None:
        if self.embedded is not None:
            self.embedded.mine(blocks)
        else:
            self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]

    def head_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def travel_to(self, timestamp: int) -> None:
        """Make the next block's timestamp ``timestamp`` (and mine it)."""
        if self.embedded is not None:
            self.embedded.time_travel(timestamp)
        else:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
            self.mine(1)

    # --------------------------------------------------------------- wallets

    def send(self, account: LocalAccount, tx: dict[str, Any]) -> Any:
        """Sign ``tx`` with ``account`` like a wallet would, send it, return the receipt."""
        tx = {
            **tx,
            "from": account.address,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
        }
        tx.setdefault("value", 0)
        if "gas" not in tx:
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 12 // 10)
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        tx.setdefault("maxPriorityFeePerGas", 1_000_000_000)
        tx.setdefault("maxFeePerGas", base * 2 + 1_000_000_000)
        signed = account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash)

    def revert_of(self, sender: str, tx: dict[str, Any]) -> str | None:
        """The custom error a call would revert with (None if it would succeed)."""
        try:
            self.w3.eth.call({**tx, "from": sender})
        except Exception as error:
            reason = decode_revert(error)
            if reason is None:
                raise AssertionError(f"not a contract revert: {error!r}") from error
            return reason.name
        return None

    def pay(self, buyer: Buyer, payment: dict[str, Any]) -> list[Any]:
        """Send a payment object's transactions in order, as a wallet would."""
        receipts = []
        for tx in payment["transactions"]:
            receipt = self.send(
                buyer.account,
                {"to": Web3.to_checksum_address(tx["to"]), "data": tx["data"], "value": int(tx["value"])},
            )
            assert receipt["status"] == 1, receipt
            receipts.append(receipt)
        return receipts

    def app_config(self) -> dict[str, Any]:
        """The BACKORDERS_* settings that point an app at this chain."""
        if self.embedded is not None:
            return {"BACKORDERS_FINALITY": 2}
        return {
            "BACKORDERS_RPC_URL": self.extra["url"],
            "BACKORDERS_CHAIN_ID": self.chain_id,
            "BACKORDERS_ESCROW_ADDRESS": self.escrow,
            "BACKORDERS_OPERATOR_KEY": "0x" + bytes(self.operator.key).hex(),
            "BACKORDERS_TOKENS": {"USDC": {"address": self.usdc, "decimals": 6, "currency": "USD"}},
            "BACKORDERS_ETH_RATE": "3000.00",
            "BACKORDERS_FINALITY": 2,
            "BACKORDERS_START_BLOCK": self.start_block,
            "BACKORDERS_RPC_RETRIES": 2,
        }


def new_buyers(count: int) -> list[Buyer]:
    return [Buyer(Account.create()) for _ in range(count)]


def embedded_env() -> ChainEnv:
    chain = start_embedded_chain(demo_accounts=6)
    buyers = [Buyer(Account.from_key(a.key.reveal())) for a in chain.demo_accounts]
    return ChainEnv(
        name="embedded",
        w3=chain.w3,
        chain_id=chain.chain_id,
        escrow=chain.escrow,
        usdc=chain.usdc,
        oracle=chain.sanctions_oracle,
        owner=chain.owner,
        payout=chain.payout,
        operator=Account.from_key(chain.operator_key.reveal()),
        buyers=buyers,
        start_block=chain.start_block,
        embedded=chain,
    )


def anvil_env(node: AnvilProcess) -> ChainEnv:
    w3 = http_web3(node.url, timeout=10, retries=2)
    owner = w3.eth.accounts[0]
    operator = Account.create()
    payout = Account.create().address
    buyers = new_buyers(6)
    for address in [operator.address, *(b.address for b in buyers)]:
        w3.provider.make_request("anvil_setBalance", [address, hex(10_000 * 10**18)])  # type: ignore[arg-type]
    env = ChainEnv(
        name="anvil",
        w3=w3,
        chain_id=int(w3.eth.chain_id),
        escrow="",
        usdc="",
        oracle="",
        owner=owner,
        payout=payout,
        operator=operator,
        buyers=buyers,
        start_block=0,
        extra={"url": node.url},
    )
    env.usdc = env.deploy("TestToken", "USD Coin (test)", "USDC", 6)
    env.oracle = env.deploy("SanctionsList", owner)
    env.escrow = env.deploy("BackorderEscrow", owner, operator.address, payout, env.oracle, [env.usdc])
    usdc = env.contract("TestToken", env.usdc)
    for buyer in buyers:
        env.transact_owner(usdc.functions.mint(buyer.address, 1_000_000 * 10**6))
    env.start_block = int(w3.eth.block_number)
    return env


def operator_secret(env: ChainEnv) -> Secret:
    return Secret("0x" + bytes(env.operator.key).hex())


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
