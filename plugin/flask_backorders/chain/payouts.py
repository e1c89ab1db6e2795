"""The operator's transaction sender: turns capture/void intents into transactions, crash-safely.

Only intents the compliance gate cleared (``ready``) are sent. For each: simulate (a revert fails the intent
with the decoded reason, nothing is sent), sign with the next nonce, store the signed bytes and hash, commit,
and only then broadcast. After a crash the stored transaction is broadcast again byte for byte (same hash:
the node treats it as a duplicate), and the contract pays each order at most once, so a re-send can never
pay twice. The order becomes ``fulfilled`` or ``refunded`` when the watcher sees the ``Captured``/``Voided``
log in a final block, not before.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eth_account import Account
from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3
from web3.exceptions import TransactionNotFound

from ..config import Secret
from ..db import run_in_transaction
from ..lifecycle import record_event
from ..models import Order, Payout
from .escrow import Escrow, decode_revert

log = logging.getLogger(__name__)

FUNCTIONS = {"capture": "capture", "void": "void"}


class PayoutSender:
    """Sends the operator's capture/void transactions for pending payout intents."""

    def __init__(
        self,
        w3: Web3,
        escrow: Escrow,
        operator_key: Secret,
        session_factory: Callable[[], Session],
        *,
        chain_id: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.w3 = w3
        self.escrow = escrow
        self._key = operator_key
        self.operator = Account.from_key(operator_key.reveal()).address
        self.session_factory = session_factory
        self.chain_id = chain_id
        self.clock = clock

    def tick(self) -> int:
        """Sign and send every intent the compliance gate cleared, re-send or settle sent ones.

        Returns how many were sent.
        """
        sent = 0
        for payout_id in self._ids("ready"):
            raw = run_in_transaction(
                self.session_factory, functools.partial(self._prepare, payout_id=payout_id)
            )
            if raw is not None:
                self._broadcast(raw)
                sent += 1
        for payout_id in self._ids("sent"):
            run_in_transaction(self.session_factory, functools.partial(self._settle, payout_id=payout_id))
        return sent

    def _ids(self, status: str) -> list[int]:
        session = self.session_factory()
        try:
            return list(session.scalars(select(Payout.id).where(Payout.status == status).order_by(Payout.id)))
        finally:
            session.close()

    def _prepare(self, session: Session, payout_id: int) -> str | None:
        payout = session.execute(
            select(Payout)
            .where(Payout.id == payout_id, Payout.status == "ready")
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if payout is None:
            return None
        order = session.get(Order, payout.order_id)
        assert order is not None
        function = getattr(self.escrow.contract.functions, FUNCTIONS[payout.kind])(HexBytes(order.order_ref))
        now = self.clock()
        try:
            gas = function.estimate_gas({"from": self.operator})
        except Exception as error:
            reason = decode_revert(error)
            payout.status = "failed"
            payout.error = reason.name if reason else type(error).__name__
            payout.updated_at = now
            record_event(session, "payout.failed", now=now, order=order, kind=payout.kind, error=payout.error)
            log.warning("payout %s of order %s would revert: %s", payout.kind, order.id, payout.error)
            return None
        nonce = self.w3.eth.get_transaction_count(self.operator, "pending")
        latest = self.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
        tip = 1_000_000_000
        tx: dict[str, Any] = function.build_transaction(
            {
                "from": self.operator,
                "nonce": nonce,
                "gas": int(gas * 12 // 10),
                "chainId": self.chain_id,
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": base_fee * 2 + tip,
            }
        )
        signed = Account.sign_transaction(tx, self._key.reveal())
        payout.nonce = nonce
        payout.raw_tx = "0x" + bytes(signed.raw_transaction).hex()
        payout.tx_hash = "0x" + bytes(signed.hash).hex()
        payout.status = "sent"
        payout.attempts += 1
        payout.updated_at = now
        record_event(session, "payout.sent", now=now, order=order, kind=payout.kind, tx_hash=payout.tx_hash)
        return payout.raw_tx

    def _broadcast(self, raw: str) -> None:
        try:
            self.w3.eth.send_raw_transaction(HexBytes(raw))
        except Exception as error:
            # Already known / already mined / nonce used: settle() finds out what happened.
            log.info("broadcast returned %s; the receipt decides", type(error).__name__)

    def _settle(self, session: Session, payout_id: int) -> None:
        payout = session.execute(
            select(Payout)
            .where(Payout.id == payout_id, Payout.status == "sent")
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if payout is None or payout.tx_hash is None:
            return
        order = session.get(Order, payout.order_id)
        assert order is not None
        now = self.clock()
        try:
            receipt = self.w3.eth.get_transaction_receipt(payout.tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            state = self.escrow.escrow_of(order.order_ref).state
            if state != "held":
                return  # paid by another transaction; the watcher records it
            if payout.nonce is not None and self.w3.eth.get_transaction_count(self.operator) > payout.nonce:
                # The nonce went to another transaction: sign this one again with a fresh nonce.
                payout.status, payout.updated_at = "ready", now
                return
            if payout.raw_tx:
                self._broadcast(payout.raw_tx)
            return
        if receipt["status"] == 1:
            return  # mined; it stays "sent" until the watcher sees its log in a final block
        payout.status, payout.error, payout.updated_at = "failed", "reverted", now
        record_event(session, "payout.failed", now=now, order=order, kind=payout.kind, error="reverted")
