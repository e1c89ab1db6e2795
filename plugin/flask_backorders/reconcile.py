"""Reconciliation: the chain (the escrow's final logs) against the database, difference by difference.

Reported drift kinds:

- ``deposit_not_credited``: a final ``Deposited`` log whose order has no final deposit (fixable: credit it);
- ``deposit_unknown_order``: a ``Deposited`` log for an order ref the database does not know;
- ``amount_mismatch``: a credited deposit whose amount differs from the log;
- ``payout_not_recorded``: a final ``Captured``/``Voided``/``Reclaimed`` log whose order is not in the
  matching final status (fixable: record it);
- ``record_without_payout``: an order marked fulfilled/refunded/reclaimed with no such log on chain;
- ``credit_without_deposit``: an order holding a final deposit in the database that the chain never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from .deposits import DepositLog, ReleaseLog, record_deposit, record_release
from .extension import BackordersState
from .models import Deposit, Order
from .states import OrderStatus

S = OrderStatus
FINAL_BY_EVENT = {"Captured": S.FULFILLED, "Voided": S.REFUNDED, "Reclaimed": S.RECLAIMED}
EVENT_BY_FINAL = {v: k for k, v in FINAL_BY_EVENT.items()}
FIXABLE = frozenset({"deposit_not_credited", "payout_not_recorded"})


@dataclass
class Drift:
    kind: str
    order_ref: str
    order_id: str | None
    detail: str
    fixed: bool = False

    def __str__(self) -> str:
        mark = "fixed" if self.fixed else ("fixable with --fix" if self.kind in FIXABLE else "needs a human")
        return (
            f"{self.kind}: order {self.order_id or '?'} ref {self.order_ref[:18]}... {self.detail} [{mark}]"
        )


def _chain_logs(state: BackordersState) -> tuple[dict[str, DepositLog], dict[str, ReleaseLog]]:
    watcher = state.require_chain().watcher
    if watcher is None:
        raise RuntimeError("no escrow is configured")
    deposits: dict[str, DepositLog] = {}
    releases: dict[str, ReleaseLog] = {}
    for entry in watcher.decoded_logs(watcher.start_block, watcher.final_block()):
        if isinstance(entry, DepositLog):
            deposits[entry.order_ref] = entry
        else:
            releases[entry.order_ref] = entry
    return deposits, releases


def reconcile(state: BackordersState, *, fix: bool = False) -> list[Drift]:
    """Every difference between the chain's final state and the database (fixing the safe ones if asked)."""
    deposits, releases = _chain_logs(state)
    chain_id = state.require_chain().chain_id

    def compare(session: Session) -> list[Drift]:
        drift: list[Drift] = []
        orders = {o.order_ref: o for o in session.scalars(select(Order).where(Order.chain_id == chain_id))}
        for ref, entry in deposits.items():
            order = orders.get(ref)
            if order is None:
                drift.append(Drift("deposit_unknown_order", ref, None, f"tx {entry.tx_hash}"))
                continue
            live = order.deposit
            if live is None or not live.final:
                drift.append(Drift("deposit_not_credited", ref, order.id, f"tx {entry.tx_hash}"))
            elif live.amount != entry.amount:
                drift.append(
                    Drift("amount_mismatch", ref, order.id, f"db {live.amount} chain {entry.amount}")
                )
        for ref, release in releases.items():
            order = orders.get(ref)
            if order is not None and order.status != FINAL_BY_EVENT[release.kind]:
                drift.append(
                    Drift(
                        "payout_not_recorded",
                        ref,
                        order.id,
                        f"{release.kind} in tx {release.tx_hash}, order is {S(order.status).value}",
                    )
                )
        for ref, order in orders.items():
            status = S(order.status)
            if status in EVENT_BY_FINAL and (
                ref not in releases or releases[ref].kind != EVENT_BY_FINAL[status]
            ):
                drift.append(
                    Drift(
                        "record_without_payout",
                        ref,
                        order.id,
                        f"order is {status.value} but the chain shows no {EVENT_BY_FINAL[status]}",
                    )
                )
            final_deposit = session.scalars(
                select(Deposit).where(
                    Deposit.order_id == order.id, Deposit.final.is_(True), Deposit.unwound_at.is_(None)
                )
            ).first()
            if final_deposit is not None and ref not in deposits:
                drift.append(Drift("credit_without_deposit", ref, order.id, f"tx {final_deposit.tx_hash}"))
        return drift

    found = state.read(compare)
    if fix:
        policy = state.settings.allocation
        for item in found:
            if item.kind == "deposit_not_credited":
                entry = deposits[item.order_ref]
                state.transaction(
                    partial(record_deposit, entry=entry, final=True, now=state.now(), policy=policy)
                )
                item.fixed = True
            elif item.kind == "payout_not_recorded":
                release = releases[item.order_ref]
                state.transaction(partial(record_release, entry=release, now=state.now(), policy=policy))
                item.fixed = True
    return found
