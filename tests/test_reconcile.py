"""``flask backorders reconcile``: drift between the chain and the database is found, and safe drift fixed."""

from __future__ import annotations

from sqlalchemy import select, update

from flask_backorders import get_state
from flask_backorders.models import ChainCursor, Order

from .conftest import ADMIN, MakeApp, put_product
from .contract_helpers import call_tx
from .flows import place, reserve_and_pay, restock, settle, status
from .support import ChainEnv


def run(app: object, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["backorders", "reconcile", *args])  # type: ignore[attr-defined]
    return result.exit_code, result.output


def test_a_clean_history_has_no_drift(make_app: MakeApp, chain: ChainEnv) -> None:
    app = make_app(chain)
    client = app.test_client()
    put_product(client)
    shipped = reserve_and_pay(app, client, chain, chain.buyers[0])
    refunded = reserve_and_pay(
        app,
        client,
        chain,
        chain.buyers[1],
        email="r@example.com",
        shipping={"name": "R", "line1": "2 St", "city": "Oslo", "postal_code": "0150", "country": "NO"},
    )
    restock(client, 1)
    client.post(
        f"/backorders/admin/orders/{shipped['id']}/ship",
        json={"carrier": "UPS", "tracking": "1"},
        headers=ADMIN,
    )
    client.post(
        f"/backorders/orders/{refunded['id']}/cancel",
        headers={"Authorization": f"Bearer {refunded['secret']}"},
    )
    settle(app, chain, rounds=2)
    assert status(client, shipped)["status"] == "fulfilled"
    assert status(client, refunded)["status"] == "refunded"
    assert run(app) == (0, "no drift: the database matches the chain\n")


def test_missed_deposits_and_payouts_are_found_and_fixed(make_app: MakeApp, anvil: ChainEnv) -> None:
    app = make_app(anvil)
    client = app.test_client()
    put_product(client)
    state = get_state(app)
    missed = place(client, anvil.buyers[0])
    anvil.pay(anvil.buyers[0], missed["payment"])
    anvil.mine(3)
    # The watcher's cursor was moved past the deposit (a lost range): it will never scan it again.
    head = int(anvil.w3.eth.block_number)
    escrow = state.require_chain().escrow
    assert escrow is not None
    state.transaction(
        lambda s: s.merge(
            ChainCursor(
                chain_id=anvil.chain_id,
                escrow=escrow.address,
                block_number=head,
                block_hash=None,
                updated_at=state.now(),
            )
        )
    )
    settle(app, anvil)
    assert status(client, missed)["status"] == "awaiting_deposit"

    other = reserve_and_pay(
        app,
        client,
        anvil,
        anvil.buyers[1],
        email="o@example.com",
        shipping={"name": "O", "line1": "3 St", "city": "Rome", "postal_code": "00100", "country": "IT"},
    )
    restock(client, 1)
    # The operator captured on chain by hand, outside the plugin, and the watcher missed that range too.
    ref = bytes.fromhex(other["payment"]["quote"]["order_ref"][2:])
    assert anvil.send(anvil.operator, call_tx(anvil, "capture", ref))["status"] == 1
    anvil.mine(3)
    head = int(anvil.w3.eth.block_number)
    state.transaction(lambda s: s.execute(update(ChainCursor).values(block_number=head)))

    code, output = run(app)
    assert code == 1
    assert "deposit_not_credited" in output and "payout_not_recorded" in output
    code, output = run(app, "--fix")
    assert code == 0 and "no drift left" in output
    assert status(client, missed)["status"] == "held"
    assert status(client, other)["status"] == "fulfilled"
    assert run(app)[0] == 0


def test_a_record_without_a_payout_needs_a_human(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[2])
    state = get_state(app)
    # Someone edited the database by hand: the order claims a refund the chain never saw.
    state.transaction(
        lambda s: s.execute(update(Order).where(Order.id == order["id"]).values(status="refunded"))
    )
    code, output = run(app, "--fix")
    assert code == 1
    assert "record_without_payout" in output and "needs a human" in output
    assert state.read(lambda s: s.scalar(select(Order.status).where(Order.id == order["id"]))) == "refunded"
