"""The embedded default chain: an in-process EVM (eth-tester + py-evm) with the escrow deployed.

Started when no ``BACKORDERS_RPC_URL`` is configured. It deploys the escrow, a test stablecoin ("USDC",
6 decimals) and a local sanctions oracle, and funds demo buyer accounts with ETH and USDC. Everything is
lost when the process exits: it is for demos and tests, never for real money.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from ..config import Secret, TokenConfig
from .artifacts import abi, bytecode
from .client import RequestCounter

DEMO_USDC = 1_000_000 * 10**6


class LockedTesterProvider(EthereumTesterProvider):
    """eth-tester is not thread-safe: serialise requests (the watcher thread shares it with requests)."""

    def __init__(self, tester: Any, counter: RequestCounter) -> None:
        super().__init__(tester)
        self.lock = threading.RLock()
        self.counter = counter

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.counter.add(method)
        with self.lock:
            return super().make_request(method, params)


@dataclass
class DemoAccount:
    """A funded buyer account of the embedded chain (its key is public test data)."""

    address: str
    key: Secret


@dataclass
class EmbeddedChain:
    """A running in-process chain with the escrow and test contracts deployed."""

    w3: Web3
    tester: Any
    chain_id: int
    owner: str
    operator_key: Secret
    payout: str
    escrow: str
    usdc: str
    sanctions_oracle: str
    start_block: int
    demo_accounts: list[DemoAccount] = field(default_factory=list)

    @property
    def tokens(self) -> dict[str, TokenConfig]:
        return {"USDC": TokenConfig(symbol="USDC", address=self.usdc, decimals=6, currency="USD")}

    @property
    def _lock(self) -> threading.RLock:
        provider = self.w3.provider
        assert isinstance(provider, LockedTesterProvider)
        return provider.lock

    def mine(self, blocks: int = 1) -> None:
        """Produce ``blocks`` empty blocks (the embedded chain only makes blocks for transactions)."""
        with self._lock:  # the same lock as every request: eth-tester is not thread-safe
            self.tester.mine_blocks(blocks)

    def time_travel(self, timestamp: int) -> None:
        """Set the next block's timestamp (to pass a hold expiry in a demo or test)."""
        with self._lock:
            self.tester.time_travel(timestamp)
            self.tester.mine_blocks(1)


def deploy(w3: Web3, name: str, *args: Any, sender: str) -> str:
    """Deploy an artifact from an unlocked account; returns the address."""
    factory = w3.eth.contract(abi=abi(name), bytecode=bytecode(name))
    tx_hash = factory.constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise RuntimeError(f"deploying {name} failed")
    return str(receipt["contractAddress"])


def start_embedded_chain(demo_accounts: int = 6) -> EmbeddedChain:
    """Start an in-process chain and deploy the escrow and test contracts on it."""
    from eth_tester import EthereumTester, PyEVMBackend
    from eth_tester.backends.pyevm.main import get_default_account_keys

    keys = get_default_account_keys(quantity=3 + demo_accounts)
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(LockedTesterProvider(tester, RequestCounter()))
    owner, operator, payout = (Account.from_key(k.to_bytes()).address for k in keys[:3])
    usdc = deploy(w3, "TestToken", "USD Coin (demo)", "USDC", 6, sender=owner)
    oracle = deploy(w3, "SanctionsList", owner, sender=owner)
    escrow = deploy(w3, "BackorderEscrow", owner, operator, payout, oracle, [usdc], sender=owner)
    token = w3.eth.contract(address=Web3.to_checksum_address(usdc), abi=abi("TestToken"))
    buyers = []
    for key in keys[3:]:
        address = Account.from_key(key.to_bytes()).address
        w3.eth.wait_for_transaction_receipt(
            token.functions.mint(address, DEMO_USDC).transact({"from": owner})
        )
        buyers.append(DemoAccount(address=address, key=Secret("0x" + key.to_bytes().hex())))
    return EmbeddedChain(
        w3=w3,
        tester=tester,
        chain_id=int(w3.eth.chain_id),
        owner=owner,
        operator_key=Secret("0x" + keys[1].to_bytes().hex()),
        payout=payout,
        escrow=escrow,
        usdc=usdc,
        sanctions_oracle=oracle,
        start_block=int(w3.eth.block_number),
        demo_accounts=buyers,
    )
