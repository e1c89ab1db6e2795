"""``flask backorders ...``: schema, the chain worker, backfills, restocks, escrow deployment."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from .extension import get_state, worker_steps


def run_until_signalled(round_: Callable[[], float]) -> None:
    """Run ``round_`` (which returns the seconds to wait before the next one) until SIGTERM or SIGINT;
    a round in progress finishes first."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.is_set():
        stop.wait(round_())


@click.group("backorders", help="Flask-Backorders: schema, chain worker, restocks, escrow deployment.")
def backorders_cli() -> None:
    pass


@backorders_cli.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Create or update the schema to the latest revision.")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    from .migrate import current, upgrade

    state = get_state()
    upgrade(state.engine, revision)
    click.echo(f"schema at revision {current(state.engine)}")


@db_group.command("current", help="Show the schema revision.")
@with_appcontext
def db_current() -> None:
    from .migrate import current

    click.echo(current(get_state().engine) or "(empty)")


@backorders_cli.command("watch", help="Run the chain watcher and payout sender until interrupted.")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@with_appcontext
def watch(once: bool) -> None:
    state = get_state()
    chain = state.require_chain()
    if chain.watcher is None:
        raise click.ClickException("No escrow is configured (BACKORDERS_ESCROW_ADDRESS).")
    from .chain.watcher import Worker

    worker = Worker(worker_steps(state), state.settings.poll_interval)
    if once:
        worker.run_once()
        return
    click.echo(
        f"watching chain {chain.chain_id}, escrow {chain.watcher.escrow.address} "
        f"(every {state.settings.poll_interval:g} s)"
    )

    def round_() -> float:
        worker.run_once()
        return state.settings.poll_interval

    run_until_signalled(round_)


@backorders_cli.command("scan", help="Backfill escrow logs in a block range (credits only final blocks).")
@click.option("--from-block", type=int, required=True)
@click.option("--to-block", type=int, default=None, help="Default: the head.")
@with_appcontext
def scan(from_block: int, to_block: int | None) -> None:
    state = get_state()
    chain = state.require_chain()
    if chain.watcher is None:
        raise click.ClickException("No escrow is configured (BACKORDERS_ESCROW_ADDRESS).")
    head = int(chain.w3.eth.block_number)
    end = head if to_block is None else min(to_block, head)
    if end < from_block:
        raise click.ClickException(f"--from-block {from_block} is after the head ({head}).")
    with click.progressbar(length=end - from_block + 1, label="scanning blocks") as bar:
        result = chain.watcher.scan(from_block, end, progress=bar.update)
    click.echo(
        f"scanned {result.scanned_from}-{result.scanned_to}: {result.deposits} deposit log(s), "
        f"{result.releases} payout log(s)"
    )


@backorders_cli.command("restock", help="Add stock to a product and allocate it to the queue.")
@click.argument("sku")
@click.argument("quantity", type=click.IntRange(min=1))
@with_appcontext
def restock_command(sku: str, quantity: int) -> None:
    from .inventory import restock

    state = get_state()
    result = state.transaction(
        lambda s: restock(s, sku, quantity, now=state.now(), policy=state.settings.allocation)
    )
    done = result.allocated
    click.echo(f"allocated {done.units} unit(s) to {done.orders} order(s); {result.stock_left} left")


@backorders_cli.command("deploy-escrow", help="Deploy the escrow contract with a deployer key.")
@click.option("--payout", required=True, help="The merchant's payout address.")
@click.option("--operator", default=None, help="Operator address (default: BACKORDERS_OPERATOR_KEY's).")
@click.option("--owner", default=None, help="Owner (cold wallet) address (default: the deployer).")
@click.option("--sanctions-oracle", default="0x0000000000000000000000000000000000000000", show_default=True)
@click.option("--token", "tokens", multiple=True, help="Allow-listed ERC-20 address (repeatable).")
@with_appcontext
def deploy_escrow(
    payout: str, operator: str | None, owner: str | None, sanctions_oracle: str, tokens: tuple[str, ...]
) -> None:
    from eth_account import Account
    from web3 import Web3

    from .chain.artifacts import abi, bytecode

    state = get_state()
    chain = state.require_chain()
    key = os.environ.get("BACKORDERS_DEPLOYER_KEY")
    if not key:
        raise click.ClickException("Set BACKORDERS_DEPLOYER_KEY (a funded account's private key).")
    deployer = Account.from_key(key)
    if operator is None:
        if state.settings.operator_key is None:
            raise click.ClickException("Give --operator or set BACKORDERS_OPERATOR_KEY.")
        operator = Account.from_key(state.settings.operator_key.reveal()).address
    w3 = chain.w3
    factory = w3.eth.contract(abi=abi("BackorderEscrow"), bytecode=bytecode("BackorderEscrow"))
    args = [
        Web3.to_checksum_address(owner or deployer.address),
        Web3.to_checksum_address(operator),
        Web3.to_checksum_address(payout),
        Web3.to_checksum_address(sanctions_oracle),
        [Web3.to_checksum_address(t) for t in tokens],
    ]
    tx = factory.constructor(*args).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
            "chainId": chain.chain_id,
        }
    )
    signed = deployer.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    click.echo(f"sent {tx_hash.to_0x_hex()}; waiting for the receipt...")
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
    if receipt["status"] != 1:
        raise click.ClickException("The deployment reverted.")
    click.echo(f"BACKORDERS_ESCROW_ADDRESS={receipt['contractAddress']}")
    click.echo(f"BACKORDERS_START_BLOCK={receipt['blockNumber']}")
    current_app.logger.info("escrow deployed at %s", receipt["contractAddress"])


@backorders_cli.group("sanctions", help="The local sanctions list (OFAC SDN digital-currency addresses).")
def sanctions_group() -> None:
    pass


@sanctions_group.command("update", help="Load the OFAC SDN advanced XML (or its ZIP) from a file or URL.")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--url", default=None, help="Default: BACKORDERS_SANCTIONS_LIST_URL (OFAC's SDN_ADVANCED.ZIP).")
@with_appcontext
def sanctions_update(path: str | None, url: str | None) -> None:
    from pathlib import Path

    from .compliance.sanctions import SanctionsListError, fetch_list, load_list, parse_sdn_advanced

    state = get_state()
    if path and url:
        raise click.UsageError("Give --file or --url, not both.")
    source = path or url or state.settings.sanctions_list_url
    try:
        data = Path(path).read_bytes() if path else fetch_list(source)
        parsed = parse_sdn_advanced(data)
    except SanctionsListError as error:
        raise click.ClickException(f"not loaded: {error}") from None
    except OSError as error:
        raise click.ClickException(f"could not read {source}: {error}") from None
    row = state.transaction(lambda s: load_list(s, parsed, source=source, now=state.now()))
    published = row.published.isoformat() if row.published else "unknown"
    click.echo(
        f"loaded {row.addresses} EVM address(es) from {source} (published {published}, "
        f"sha256 {row.sha256[:16]}...)"
    )


@sanctions_group.command("status", help="Show the active list.")
@with_appcontext
def sanctions_status() -> None:
    from .compliance.sanctions import active_list

    state = get_state()
    row = state.read(active_list)
    if row is None:
        click.echo("no sanctions list loaded: every payout waits for review (fail closed)")
        return
    click.echo(
        f"{row.addresses} address(es) from {row.source}, published {row.published}, loaded "
        f"{row.loaded_at:%Y-%m-%d %H:%M} UTC, sha256 {row.sha256}"
    )


@backorders_cli.command("deliver", help="Deliver webhooks only (run beside `watch` to scale delivery out).")
@click.option("--once", is_flag=True, help="Deliver what is due and exit.")
@with_appcontext
def deliver(once: bool) -> None:
    state = get_state()
    deliverer = state.deliverer
    assert deliverer is not None
    if once:
        click.echo(f"{deliverer.tick()} delivery attempt(s)")
        return

    def round_() -> float:
        return 0.2 if deliverer.tick() else state.settings.poll_interval

    run_until_signalled(round_)


@backorders_cli.command("report", help="The demand report: per product and day, and what to reorder.")
@click.option("--sku", default=None)
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True)
@click.option(
    "--lead-time-days",
    type=click.IntRange(0, 3650),
    default=None,
    help="Supplier lead time (default BACKORDERS_REORDER_LEAD_DAYS).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@with_appcontext
def report(sku: str | None, days: int, lead_time_days: int | None, fmt: str) -> None:
    import csv
    import io
    import json
    from datetime import timedelta

    from .reports import CSV_COLUMNS, demand_report, report_rows

    state = get_state()
    end = state.now().date()
    start = end - timedelta(days=days - 1)
    lead = state.settings.reorder_lead_days if lead_time_days is None else lead_time_days
    reports = state.read(lambda s: demand_report(s, start=start, end=end, lead_time_days=lead, sku=sku))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "products": [r.as_dict() for r in reports],
                },
                indent=2,
            )
        )
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(report_rows(reports))
        click.echo(buffer.getvalue(), nl=False)
        return
    for r in reports:
        click.echo(
            f"\n{r.sku} - {r.name}: {r.units_queued_now} unit(s) queued, {r.daily_rate:.2f} new/day, "
            f"reorder {r.suggested_reorder} (lead time {r.lead_time_days} d)"
        )
        click.echo(
            f"  {'day':<10} {'new':>4} {'units':>5} {'cancel':>6} {'queued':>6} {'held':>12} "
            f"{'alloc':>5} {'wait d':>6}"
        )
        for d in r.days:
            wait = f"{d.avg_wait_days:.1f}" if d.avg_wait_days is not None else "-"
            click.echo(
                f"  {d.day.isoformat():<10} {d.new_reservations:>4} {d.new_units:>5} {d.cancellations:>6} "
                f"{d.units_queued:>6} {d.deposits_held:>12} {d.allocated_units:>5} {wait:>6}"
            )


@backorders_cli.command(
    "reconcile", help="Compare the chain (escrow logs) with the database; exit 1 on drift."
)
@click.option(
    "--fix", is_flag=True, help="Fix the safe cases: credit missed deposits, record confirmed payouts."
)
@with_appcontext
def reconcile_command(fix: bool) -> None:
    from .reconcile import reconcile

    drift = reconcile(get_state(), fix=fix)
    for item in drift:
        click.echo(str(item))
    left = [d for d in drift if not d.fixed]
    if not drift:
        click.echo("no drift: the database matches the chain")
    elif fix and not left:
        click.echo(f"fixed {len(drift)} difference(s); no drift left")
    if left:
        raise SystemExit(1)
