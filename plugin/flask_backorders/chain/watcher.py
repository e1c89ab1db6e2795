"""The chain watcher: credits deposits and confirms payouts from the escrow's logs (DESIGN §6).

Each tick makes at most three JSON-RPC requests whatever the number of orders: the head block, the final
block (by the ``finalized``/``safe`` tag or N confirmations below the head) and one ``eth_getLogs`` for every
escrow event of every order between the cursor and the head (chunked when catching up).

The cursor only ever points at a *final* block, so the unfinalised tail is scanned again on every tick: a
not-yet-final deposit whose log is no longer in the canonical tail is unwound, one that moved is updated,
and nothing is credited as ``held`` before its block is final. Processing a chunk and moving the cursor
happen in one transaction, so a crash at any point resumes from the cursor and credits nothing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3
from web3.types import BlockIdentifier

from ..db import run_in_transaction
from ..deposits import (
    DepositLog,
    ReleaseLog,
    pending_deposits,
    record_deposit,
    record_release,
    unwind_deposit,
)
from ..models import ChainCursor
from ..orders import expire_quotes
from .escrow import Escrow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str


@dataclass
class TickResult:
    """What one tick did."""

    head: int = 0
    final: int = 0
    scanned_from: int = 0
    scanned_to: int = -1
    deposits: int = 0
    releases: int = 0
    unwound: int = 0
    expired: int = 0


class DepositWatcher:
    """Scans one escrow on one chain and reports what it sees to the deposit services."""

    def __init__(
        self,
        w3: Web3,
        escrow: Escrow,
        session_factory: Callable[[], Session],
        *,
        chain_id: int,
        finality: str | int,
        log_range: int,
        start_block: int,
        clock: Callable[[], datetime],
        allocation_policy: str = "fill",
    ) -> None:
        self.w3 = w3
        self.escrow = escrow
        self.session_factory = session_factory
        self.chain_id = chain_id
        self.finality = finality
        self.log_range = log_range
        self.start_block = start_block
        self.clock = clock
        self.policy = allocation_policy

    # ------------------------------------------------------------ chain reads

    def _block(self, identifier: BlockIdentifier) -> BlockRef:
        block = self.w3.eth.get_block(identifier)
        return BlockRef(int(block["number"]), "0x" + bytes(block["hash"]).hex())

    def _final(self, head: BlockRef) -> BlockRef:
        if isinstance(self.finality, int):
            if self.finality == 0:
                return head
            return self._block(max(head.number - self.finality, 0))
        final = self._block("finalized" if self.finality == "finalized" else "safe")
        return final if final.number <= head.number else head

    def final_block(self) -> int:
        """The number of the latest final block (by the configured finality)."""
        return self._final(self._block("latest")).number

    def decoded_logs(self, from_block: int, to_block: int) -> Iterator[DepositLog | ReleaseLog]:
        """Every escrow event in ``[from_block, to_block]``, decoded, one ``eth_getLogs`` per chunk."""
        start = from_block
        while start <= to_block:
            end = min(start + self.log_range - 1, to_block)
            for raw in self._logs(start, end):
                entry = self.escrow.decode_log(self.chain_id, raw)
                if entry is not None:
                    yield entry
            start = end + 1

    def _logs(self, from_block: int, to_block: int) -> list[Any]:
        return list(self.w3.eth.get_logs(self.escrow.log_filter(from_block, to_block)))  # type: ignore[arg-type]

    # ----------------------------------------------------------------- cursor

    def cursor(self, session: Session) -> int:
        """The last final block processed (``start_block - 1`` before the first tick)."""
        row = session.get(ChainCursor, (self.chain_id, self.escrow.address))
        return row.block_number if row is not None else self.start_block - 1

    def _lock_cursor(self, session: Session) -> ChainCursor:
        row = session.execute(
            select(ChainCursor)
            .where(ChainCursor.chain_id == self.chain_id, ChainCursor.escrow == self.escrow.address)
            .with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = ChainCursor(
                chain_id=self.chain_id,
                escrow=self.escrow.address,
                block_number=self.start_block - 1,
                block_hash=None,
                updated_at=self.clock(),
            )
            session.add(row)
            session.flush()
        return row

    # ------------------------------------------------------------------- tick

    def tick(self) -> TickResult:
        """One poll: read head and final block, scan from the cursor to the head, expire stale quotes."""
        head = self._block("latest")
        final = self._final(head)
        session = self.session_factory()
        try:
            cursor = self.cursor(session)
        finally:
            session.close()
        result = TickResult(head=head.number, final=final.number, scanned_from=cursor + 1)
        if final.number < cursor:
            log.warning(
                "the final block (%d) is behind the cursor (%d): a lagging node?", final.number, cursor
            )
        start = cursor + 1
        while start <= head.number:
            end = min(start + self.log_range - 1, head.number)
            logs = self._logs(start, end)
            self._apply(start, end, logs, final, result)
            result.scanned_to = end
            start = end + 1
        result.expired = run_in_transaction(
            self.session_factory, lambda s: expire_quotes(s, now=self.clock())
        )
        return result

    def scan(
        self, from_block: int, to_block: int, progress: Callable[[int], None] | None = None
    ) -> TickResult:
        """Backfill ``[from_block, to_block]`` (clamped to the head), crediting only what is final."""
        head = self._block("latest")
        final = self._final(head)
        to_block = min(to_block, head.number)
        result = TickResult(head=head.number, final=final.number, scanned_from=from_block)
        start = from_block
        while start <= to_block:
            end = min(start + self.log_range - 1, to_block)
            self._apply(start, end, self._logs(start, end), final, result, move_cursor=False)
            result.scanned_to = end
            if progress:
                progress(end - start + 1)
            start = end + 1
        return result

    def _apply(
        self,
        start: int,
        end: int,
        logs: list[Any],
        final: BlockRef,
        result: TickResult,
        *,
        move_cursor: bool = True,
    ) -> None:
        decoded = [d for d in (self.escrow.decode_log(self.chain_id, raw) for raw in logs) if d is not None]
        decoded.sort(key=lambda d: (d.block_number, d.log_index))

        def work(session: Session) -> None:
            now = self.clock()
            cursor = self._lock_cursor(session) if move_cursor else None
            seen = {
                (d.tx_hash, d.log_index, getattr(d, "block_hash", None))
                for d in decoded
                if isinstance(d, DepositLog)
            }
            for pending in pending_deposits(session, self.chain_id, from_block=start):
                if (
                    pending.block_number <= end
                    and (pending.tx_hash, pending.log_index, pending.block_hash) not in seen
                ):
                    moved = any(
                        isinstance(d, DepositLog)
                        and d.tx_hash == pending.tx_hash
                        and d.log_index == pending.log_index
                        for d in decoded
                    )
                    if not moved:
                        unwind_deposit(session, pending, now=now)
                        result.unwound += 1
            for entry in decoded:
                is_final = entry.block_number <= final.number
                if isinstance(entry, DepositLog):
                    record_deposit(session, entry, final=is_final, now=now, policy=self.policy)
                    result.deposits += 1
                elif is_final and isinstance(entry, ReleaseLog):
                    record_release(session, entry, now=now, policy=self.policy)
                    result.releases += 1
            if cursor is not None:
                target = min(end, final.number)
                if target > cursor.block_number:
                    cursor.block_number = target
                    cursor.block_hash = final.hash if target == final.number else None
                    cursor.updated_at = now

        run_in_transaction(self.session_factory, work)


class Worker:
    """Runs the watcher (and the payout sender) every ``interval`` seconds in a thread until stopped."""

    def __init__(self, steps: list[Callable[[], object]], interval: float, name: str = "backorders-worker"):
        self.steps = steps
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_once(self) -> None:
        for step in self.steps:
            try:
                step()
            except Exception:
                # An RPC fault or a conflict: nothing was committed for the failed step; try next time.
                log.exception(
                    "worker step %s failed; retrying next interval", getattr(step, "__name__", step)
                )

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)
