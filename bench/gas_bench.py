"""Gas used by the escrow's entry points on anvil (the baseline: a plain ETH transfer, 21,000 gas)."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from flask_backorders.chain.artifacts import abi
from flask_backorders.chain.quotes import QuoteSigner
from flask_backorders.config import Secret

from .common import Anvil, deploy, table, write_json


def run(full: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        node = Anvil(Path(tmp) / "anvil.log")
        try:
            dep = deploy(node.url)
            w3 = dep.w3
            signer = QuoteSigner(dep.chain_id, dep.escrow, Secret("0x" + bytes(dep.operator.key).hex()))
            buyer = Account.create()
            w3.provider.make_request("anvil_setBalance", [buyer.address, hex(10**22)])  # type: ignore[arg-type]
            usdc = w3.eth.contract(address=Web3.to_checksum_address(dep.usdc), abi=abi("TestToken"))
            escrow = w3.eth.contract(address=Web3.to_checksum_address(dep.escrow), abi=abi("BackorderEscrow"))
            w3.eth.wait_for_transaction_receipt(
                usdc.functions.mint(buyer.address, 10**12).transact({"from": dep.owner})
            )

            def send(account: Any, to: str, data: str = "0x", value: int = 0) -> int:
                tx = {
                    "to": Web3.to_checksum_address(to),
                    "data": data,
                    "value": value,
                    "chainId": dep.chain_id,
                    "nonce": w3.eth.get_transaction_count(account.address),
                    "gas": 500_000,
                    "maxFeePerGas": 10**11,
                    "maxPriorityFeePerGas": 10**9,
                }
                receipt = w3.eth.wait_for_transaction_receipt(
                    w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
                )
                assert receipt["status"] == 1
                return int(receipt["gasUsed"])

            def quote(token: str | None, hold: int = 86_400) -> tuple[bytes, int, int, int, bytes]:
                now = int(w3.eth.get_block("latest")["timestamp"])
                ref = "0x" + secrets.token_hex(32)
                sig = signer.sign(ref, buyer.address, token, 10**6, now + 900, now + hold)
                return bytes.fromhex(ref[2:]), 10**6, now + 900, now + hold, bytes.fromhex(sig[2:])

            gas: dict[str, int] = {
                "plain ETH transfer (baseline)": send(buyer, Account.create().address, value=1)
            }
            ref, amount, deadline, hold, sig = quote(None)
            gas["deposit (ETH)"] = send(
                buyer, dep.escrow, escrow.encode_abi("deposit", [ref, amount, deadline, hold, sig]), amount
            )
            gas["capture"] = send(dep.operator, dep.escrow, escrow.encode_abi("capture", [ref]))
            send(buyer, dep.usdc, usdc.encode_abi("approve", [dep.escrow, 10**6]))
            ref, amount, deadline, hold, sig = quote(dep.usdc)
            gas["depositToken (USDC)"] = send(
                buyer,
                dep.escrow,
                escrow.encode_abi("depositToken", [ref, dep.usdc, amount, deadline, hold, sig]),
            )
            gas["void"] = send(dep.operator, dep.escrow, escrow.encode_abi("void", [ref]))
            ref, amount, deadline, hold, sig = quote(None, hold=60)
            send(buyer, dep.escrow, escrow.encode_abi("deposit", [ref, amount, deadline, hold, sig]), amount)
            w3.provider.make_request("evm_increaseTime", [120])  # type: ignore[arg-type]
            gas["reclaim"] = send(buyer, dep.escrow, escrow.encode_abi("reclaim", [ref]))
        finally:
            node.stop()
    write_json("gas", gas)
    return table(
        "Gas used (anvil)",
        ["call", "gas", "vs a plain transfer"],
        [[name, f"{used:,}", f"{used / 21_000:.1f}x"] for name, used in gas.items()],
    )
