"""Quote issuance (EIP-712 signing) per second on one core: ours (domain separator computed once, struct hash
with eth-abi, one secp256k1 signature) against eth-account's general ``sign_typed_data``."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_account import Account

from flask_backorders.chain.quotes import ChainQuoter, QuoteSigner
from flask_backorders.chain.rates import FixedRates
from flask_backorders.config import Secret, TokenConfig

from .common import table, write_json

ESCROW = "0x00000000000000000000000000000000000E5C00"
USDC = "0x0000000000000000000000000000000000005DC0"


def _rate(fn: Any, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - started)


def run(full: bool) -> str:
    seconds = 5.0 if full else 2.0
    key = Account.create()
    payer = Account.create().address
    quoter = ChainQuoter(
        QuoteSigner(1, ESCROW, Secret("0x" + bytes(key.key).hex())),
        native_symbol="ETH",
        tokens={"USDC": TokenConfig("USDC", USDC, 6)},
        rates=FixedRates({"USD": Decimal(3000)}),
        quote_ttl=900,
        hold_days=120,
    )
    now = datetime.now(UTC)

    def ours() -> None:
        quoter.quote(
            order_ref="0x" + secrets.token_hex(32),
            payer=payer,
            symbol="USDC",
            fiat_amount=Decimal("129.00"),
            currency="USD",
            now=now,
        )

    domain = {"name": "BackorderEscrow", "version": "1", "chainId": 1, "verifyingContract": ESCROW}
    types = {
        "Quote": [
            {"name": "orderRef", "type": "bytes32"},
            {"name": "payer", "type": "address"},
            {"name": "token", "type": "address"},
            {"name": "amount", "type": "uint256"},
            {"name": "deadline", "type": "uint64"},
            {"name": "holdUntil", "type": "uint64"},
        ]
    }

    def baseline() -> None:
        message = {
            "orderRef": bytes.fromhex(secrets.token_hex(32)),
            "payer": payer,
            "token": USDC,
            "amount": 129_000_000,
            "deadline": 1_900_000_000,
            "holdUntil": 1_910_000_000,
        }
        Account.sign_typed_data(key.key, domain, types, message)

    # Both paths sign the same digest for the same quote.
    ref = "0x" + "ab" * 32
    ours_sig = quoter.signer.sign(ref, payer, USDC, 129_000_000, 1_900_000_000, 1_910_000_000)
    theirs = Account.sign_typed_data(
        key.key,
        domain,
        types,
        {
            "orderRef": bytes.fromhex(ref[2:]),
            "payer": payer,
            "token": USDC,
            "amount": 129_000_000,
            "deadline": 1_900_000_000,
            "holdUntil": 1_910_000_000,
        },
    )
    assert ours_sig == "0x" + bytes(theirs.signature).hex()

    base_rate, our_rate = _rate(baseline, seconds), _rate(ours, seconds)
    write_json("quotes", {"ours_per_s": our_rate, "baseline_per_s": base_rate, "ratio": our_rate / base_rate})
    return table(
        "Quote issuance (EIP-712), one core",
        ["path", "quotes/s", "ratio"],
        [
            ["baseline: eth-account sign_typed_data", f"{base_rate:,.0f}", "1.00x"],
            ["ours: ChainQuoter.quote (price + sign)", f"{our_rate:,.0f}", f"{our_rate / base_rate:.2f}x"],
        ],
    )
