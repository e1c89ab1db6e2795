"""Signing quotes and calling the escrow directly, for the contract tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes

from flask_backorders.chain.quotes import QuoteSigner

from .support import Buyer, ChainEnv, operator_secret

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass
class SignedQuote:
    order_ref: str
    payer: str
    token: str | None
    amount: int
    deadline: int
    hold_until: int
    signature: str

    @property
    def ref(self) -> bytes:
        return bytes(HexBytes(self.order_ref))


def sign_quote(
    env: ChainEnv,
    payer: str,
    amount: int,
    *,
    token: str | None = None,
    ttl: int = 900,
    hold: int = 86_400,
    order_ref: str | None = None,
    signer: QuoteSigner | None = None,
) -> SignedQuote:
    now = env.head_time()
    ref = order_ref or "0x" + secrets.token_hex(32)
    signer = signer or QuoteSigner(env.chain_id, env.escrow, operator_secret(env))
    deadline, hold_until = now + ttl, now + hold
    signature = signer.sign(ref, payer, token, amount, deadline, hold_until)
    return SignedQuote(ref, payer, token, amount, deadline, hold_until, signature)


def deposit_tx(env: ChainEnv, quote: SignedQuote, value: int | None = None) -> dict[str, Any]:
    escrow = env.escrow_contract
    sig = HexBytes(quote.signature)
    if quote.token is None:
        data = escrow.encode_abi("deposit", [quote.ref, quote.amount, quote.deadline, quote.hold_until, sig])
        return {"to": env.escrow, "data": data, "value": quote.amount if value is None else value}
    data = escrow.encode_abi(
        "depositToken", [quote.ref, quote.token, quote.amount, quote.deadline, quote.hold_until, sig]
    )
    return {"to": env.escrow, "data": data, "value": 0}


def approve(env: ChainEnv, buyer: Buyer, token: str, amount: int) -> None:
    contract = env.contract("TestToken", token)
    receipt = env.send(
        buyer.account, {"to": token, "data": contract.encode_abi("approve", [env.escrow, amount])}
    )
    assert receipt["status"] == 1


def call_tx(env: ChainEnv, fn: str, *args: Any) -> dict[str, Any]:
    return {"to": env.escrow, "data": env.escrow_contract.encode_abi(fn, list(args))}
