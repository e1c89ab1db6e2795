"""Delay notices with their one-click cancel link, and the demand report on a seeded history."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from flask_backorders import get_state, signals
from flask_backorders.extension import lapse_overdue_etas

from .conftest import ADMIN, MakeApp, put_product
from .flows import place, reserve_and_pay, restock, settle, status
from .support import Buyer, ChainEnv, Clock


def shipping(i: int) -> dict[str, str]:
    return {
        "name": f"Buyer {i}",
        "line1": f"{i} Market St",
        "city": "Dublin",
        "postal_code": "D01",
        "country": "IE",
    }


def buy(
    app: Flask, client: FlaskClient, chain: ChainEnv, buyer: Buyer, i: int, pay: bool = True, **kw: Any
) -> dict[str, Any]:
    if pay:
        return reserve_and_pay(
            app, client, chain, buyer, email=f"b{i}@example.com", shipping=shipping(i), **kw
        )
    return place(client, buyer, email=f"b{i}@example.com", shipping=shipping(i), **kw)


def set_eta(client: FlaskClient, earliest: str | None, latest: str | None) -> None:
    response = client.patch(
        "/backorders/admin/products/WALLET-T",
        json={"restock_eta": {"earliest": earliest, "latest": latest}},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.get_json()


def test_a_later_eta_sends_every_waiting_order_a_cancel_link_that_works_once(
    make_app: MakeApp, embedded: ChainEnv
) -> None:
    app = make_app(embedded, BACKORDERS_PUBLIC_URL="https://shop.example")
    client = app.test_client()
    put_product(client)
    waiting = buy(app, client, embedded, embedded.buyers[0], 0, pay=False)
    allocated = buy(app, client, embedded, embedded.buyers[1], 1)  # paid first: first in the queue
    held = buy(app, client, embedded, embedded.buyers[2], 2)
    restock(client, 1)
    assert status(client, allocated)["status"] == "allocated"
    assert status(client, held)["status"] == "held"
    notices: list[dict[str, Any]] = []

    def on_eta(sender: str, **kwargs: Any) -> None:
        notices.append({"order": sender, **kwargs["data"]})

    signals.eta_changed.connect(on_eta)
    try:
        set_eta(client, "2027-03-01", "2027-04-15")  # later than 2027-02-01
    finally:
        signals.eta_changed.disconnect(on_eta)
    assert {n["order"] for n in notices} == {waiting["id"], held["id"]}  # the allocated one ships anyway
    notice = next(n for n in notices if n["order"] == held["id"])
    assert notice["delayed"] is True and notice["restock_eta"] == {
        "earliest": "2027-03-01",
        "latest": "2027-04-15",
    }
    link = notice["cancel_url"]
    assert link.startswith(f"https://shop.example/backorders/orders/{held['id']}/delay-cancel?notice=")
    path = link.removeprefix("https://shop.example")

    page = client.get(path)
    assert page.status_code == 200 and b"Cancel and refund" in page.data
    assert status(client, held)["status"] == "held"  # a GET (a mail scanner) changes nothing
    form = dict(re.findall(r'name="(notice|token)" value="([^"]+)"', page.get_data(as_text=True)))
    first = client.post(path.split("?")[0], data=form)
    assert first.status_code == 200 and b"Your reservation is cancelled" in first.data
    assert b"refund of your deposit is on its way" in first.data
    settle(app, embedded)
    assert status(client, held)["status"] == "refunded"
    second = client.post(path.split("?")[0], data=form)
    assert second.status_code == 200 and b"Already cancelled" in second.data
    assert status(client, held)["status"] == "refunded"
    forged = client.post(path.split("?")[0], data={**form, "token": "x" + form["token"][1:]})
    assert forged.status_code == 404
    assert status(client, waiting)["status"] == "awaiting_deposit"


def test_an_earlier_eta_is_news_without_a_cancel_link(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    order = buy(app, client, embedded, embedded.buyers[0], 0)
    got: list[dict[str, Any]] = []
    signals.eta_changed.connect(lambda sender, **kw: got.append(kw["data"]), weak=False)
    try:
        set_eta(client, "2027-01-05", "2027-01-20")
    finally:
        signals.eta_changed.receivers.clear()
    assert got and got[0]["delayed"] is False and "cancel_url" not in got[0]
    assert status(client, order)["restock_eta"] == {"earliest": "2027-01-05", "latest": "2027-01-20"}


def test_a_passed_eta_becomes_unknown_once(make_app: MakeApp, embedded: ChainEnv, clock: Clock) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(
        client, restock_eta={"earliest": None, "latest": (date.today() + timedelta(days=3)).isoformat()}
    )
    order = buy(app, client, embedded, embedded.buyers[0], 0)
    state = get_state(app)
    assert lapse_overdue_etas(state) == 0
    clock.advance(5 * 86400)
    assert lapse_overdue_etas(state) == 1
    assert lapse_overdue_etas(state) == 0
    timeline = status(client, order)["timeline"]
    assert [e["type"] for e in timeline].count("eta.changed") == 1
    from sqlalchemy import select

    from flask_backorders.models import Event

    data = state.read(lambda s: s.scalars(select(Event.data).where(Event.type == "eta.changed")).one())
    assert data["restock_eta"] is None and data["eta_known"] is False and data["reason"] == "eta_passed"
    assert "/delay-cancel?notice=" in data["cancel_url"]


def test_demand_report_matches_hand_computed_figures(
    make_app: MakeApp, embedded: ChainEnv, clock: Clock
) -> None:
    day0 = datetime.combine(date.today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=9
    )
    clock.set_to(day0)
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    # Day 0: A (1 unit) and B (2 units) pay.
    a = buy(app, client, embedded, embedded.buyers[0], 0)
    b = buy(app, client, embedded, embedded.buyers[1], 1, quantity=2)
    # Day 1: C (1 unit) pays; A cancels and is refunded.
    clock.advance(86400)
    c = buy(app, client, embedded, embedded.buyers[2], 2)
    client.post(f"/backorders/orders/{a['id']}/cancel", headers={"Authorization": f"Bearer {a['secret']}"})
    settle(app, embedded)
    assert status(client, a)["status"] == "refunded"
    # Day 2: 2 units arrive: B (first in the queue) gets them after waiting 2 days; C waits.
    clock.advance(86400)
    restock(client, 2)
    assert status(client, b)["status"] == "allocated" and status(client, c)["status"] == "held"
    # Day 3: nothing happens.
    clock.advance(86400)

    start, end = day0.date(), day0.date() + timedelta(days=3)
    report = client.get(
        "/backorders/admin/reports/demand",
        headers=ADMIN,
        query_string={"from": start.isoformat(), "to": end.isoformat(), "lead_time_days": 30},
    ).get_json()
    product = report["products"][0]
    days = [
        {
            k: d[k]
            for k in (
                "new_reservations",
                "new_units",
                "cancellations",
                "units_queued",
                "deposits_held",
                "allocations",
                "allocated_units",
                "avg_wait_days",
            )
        }
        for d in product["days"]
    ]
    assert days == [
        {
            "new_reservations": 2,
            "new_units": 3,
            "cancellations": 0,
            "units_queued": 3,
            "deposits_held": "387.00",
            "allocations": 0,
            "allocated_units": 0,
            "avg_wait_days": None,
        },
        {
            "new_reservations": 1,
            "new_units": 1,
            "cancellations": 1,
            "units_queued": 3,
            "deposits_held": "387.00",
            "allocations": 0,
            "allocated_units": 0,
            "avg_wait_days": None,
        },
        {
            "new_reservations": 0,
            "new_units": 0,
            "cancellations": 0,
            "units_queued": 1,
            "deposits_held": "387.00",
            "allocations": 1,
            "allocated_units": 2,
            "avg_wait_days": 2.0,
        },
        {
            "new_reservations": 0,
            "new_units": 0,
            "cancellations": 0,
            "units_queued": 1,
            "deposits_held": "387.00",
            "allocations": 0,
            "allocated_units": 0,
            "avg_wait_days": None,
        },
    ]
    # 1 unit queued + ceil(4 new units / 14 days * 30 days) = 1 + 9
    assert product["units_queued_now"] == 1 and product["suggested_reorder"] == 10

    as_csv = client.get(
        "/backorders/admin/reports/demand",
        headers={**ADMIN, "Accept": "text/csv"},
        query_string={"from": start.isoformat(), "to": end.isoformat()},
    )
    assert as_csv.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert [r["new_units"] for r in rows] == ["3", "1", "0", "0"]
    assert rows[2]["allocated_units"] == "2" and rows[0]["currency"] == "USD"

    bad = client.get("/backorders/admin/reports/demand", headers=ADMIN, query_string={"from": "yesterday"})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "from"

    cli = app.test_cli_runner().invoke(args=["backorders", "report", "--days", "7", "--format", "csv"])
    assert cli.exit_code == 0 and cli.output.startswith("sku,day,new_reservations")
    table = app.test_cli_runner().invoke(args=["backorders", "report", "--days", "4"])
    assert "reorder 10" in table.output
