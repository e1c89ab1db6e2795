"""Signed webhooks from the outbox, against a real local receiver; signals after commit only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from flask_backorders import get_state, signals
from flask_backorders.models import OutboxEvent, WebhookDelivery
from flask_backorders.webhooks import WebhookVerificationError, sign, verify_webhook

from .conftest import ADMIN, MakeApp, order_body, put_product
from .flows import place, reserve_and_pay, restock
from .http_servers import WebhookReceiver
from .support import ROOT, ChainEnv, Clock

SECRET = "whsec_test_secret_0123456789"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


def subscribe(app: Flask, url: str, events: list[str] | None = None, secret: str = SECRET) -> str:
    response = app.test_client().post(
        "/backorders/admin/webhooks",
        json={"url": url, "events": events or ["*"], "secret": secret},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.get_json()
    endpoint_id: str = response.get_json()["id"]
    return endpoint_id


def deliver(app: Flask) -> int:
    deliverer = get_state(app).deliverer
    assert deliverer is not None
    return deliverer.tick()


def test_events_arrive_signed_with_the_full_order_and_verify(
    make_app: MakeApp, embedded: ChainEnv, receiver: WebhookReceiver
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    subscribe(app, receiver.url)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[0])
    restock(client, 1)
    deliver(app)
    events = receiver.events()
    types = [e["type"] for e in events]
    assert types[:4] == ["order.placed", "deposit.seen", "deposit.confirmed", "order.allocated"]
    allocated = events[3]
    assert allocated["data"]["order"]["id"] == order["id"]
    assert allocated["data"]["order"]["status"] == "allocated"
    assert allocated["data"]["order"]["email"] == "ada@example.com"
    assert allocated["api_version"] and allocated["created"].endswith("Z")
    assert "secret" not in json.dumps(allocated)

    request = receiver.received[0]
    header = request["headers"]["Backorders-Signature"]
    event = verify_webhook(request["body"], header, SECRET)
    assert event["id"] == request["headers"]["Backorders-Event-Id"]
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(request["body"].replace(b"ada@", b"eve@"), header, SECRET)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(request["body"], header, "whsec_another_secret_xxxxxxxx")
    old = int(time.time()) - 3600
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(request["body"], sign(request["body"], SECRET, old), SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(request["body"], None, SECRET)


def test_a_receiver_failing_twice_gets_the_event_once_more_then_never(
    make_app: MakeApp, embedded: ChainEnv, clock: Clock
) -> None:
    receiver = WebhookReceiver(script=[503, 503])
    try:
        app = make_app(embedded)
        client = app.test_client()
        put_product(client)
        subscribe(app, receiver.url, ["order.placed"])
        place(client, embedded.buyers[0])
        deliver(app)
        assert [r["status"] for r in receiver.received] == [503]
        deliver(app)
        assert len(receiver.received) == 1  # not due yet: backoff
        clock.advance(25)
        deliver(app)
        clock.advance(50)
        deliver(app)
        assert [r["status"] for r in receiver.received] == [503, 503, 200]
        ids = {
            (r["headers"]["Backorders-Delivery-Id"], r["headers"]["Backorders-Event-Id"])
            for r in receiver.received
        }
        assert len(ids) == 1  # the same delivery id and event id on every attempt
        clock.advance(3600)
        deliver(app)
        assert len(receiver.received) == 3
        endpoint = client.get("/backorders/admin/webhooks", headers=ADMIN).get_json()["webhooks"][0]
        log = client.get(f"/backorders/admin/webhooks/{endpoint['id']}/deliveries", headers=ADMIN).get_json()
        delivery = log["deliveries"][0]
        assert delivery["status"] == "succeeded"
        assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 200]
        assert all(a["duration_ms"] >= 0 for a in delivery["attempts"])
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("status", "retried"),
    [(500, True), (502, True), (408, True), (429, True), (400, False), (404, False), (410, False)],
)
def test_which_answers_are_retried(
    make_app: MakeApp, embedded: ChainEnv, clock: Clock, status: int, retried: bool
) -> None:
    receiver = WebhookReceiver(script=[status])
    try:
        app = make_app(embedded)
        client = app.test_client()
        put_product(client)
        subscribe(app, receiver.url, ["order.placed"])
        place(client, embedded.buyers[0])
        deliver(app)
        clock.advance(60)
        deliver(app)
        assert len(receiver.received) == (2 if retried else 1)
    finally:
        receiver.stop()


def test_network_errors_retry_and_after_three_days_the_endpoint_is_failing(
    make_app: MakeApp, embedded: ChainEnv, clock: Clock
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    subscribe(app, "http://127.0.0.1:9/hooks", ["order.placed"])  # nothing listens there
    place(client, embedded.buyers[0])
    attempts = 0
    for _ in range(40):
        attempts += deliver(app)
        clock.advance(6 * 3600)
    endpoint = client.get("/backorders/admin/webhooks", headers=ADMIN).get_json()["webhooks"][0]
    assert endpoint["failing_since"] is not None
    log = client.get(f"/backorders/admin/webhooks/{endpoint['id']}/deliveries", headers=ADMIN).get_json()
    assert log["deliveries"][0]["status"] == "dead"
    assert {a["error"] for a in log["deliveries"][0]["attempts"]} == {"ConnectionError"}
    assert 5 <= attempts <= 20


def test_redelivery_from_the_admin_api(
    make_app: MakeApp, embedded: ChainEnv, receiver: WebhookReceiver
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    subscribe(app, receiver.url, ["order.placed"])
    place(client, embedded.buyers[0])
    deliver(app)
    event_id = receiver.events()[0]["id"]
    response = client.post(f"/backorders/admin/events/{event_id}/redeliver", headers=ADMIN)
    assert response.get_json() == {"event_id": event_id, "redelivered": 1}
    deliver(app)
    assert [e["id"] for e in receiver.events()] == [event_id, event_id]
    first, second = receiver.received
    assert first["headers"]["Backorders-Delivery-Id"] == second["headers"]["Backorders-Delivery-Id"]
    assert client.post("/backorders/admin/events/evt_nope/redeliver", headers=ADMIN).status_code == 404


def test_a_lease_left_by_a_crashed_worker_expires_and_the_event_is_delivered(
    make_app: MakeApp, embedded: ChainEnv, receiver: WebhookReceiver, clock: Clock
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    subscribe(app, receiver.url, ["order.placed"])
    place(client, embedded.buyers[0])
    state = get_state(app)
    deliverer = state.deliverer
    assert deliverer is not None
    leased = state.transaction(deliverer._lease)  # the worker leased it ... and died before sending
    assert len(leased) == 1
    assert deliver(app) == 0  # leased: nobody else sends it meanwhile
    clock.advance(60)
    assert deliver(app) == 1
    assert len(receiver.events()) == 1


def _env(app: Flask, extra: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    config = {k: v for k, v in app.config.items() if k.startswith("BACKORDERS_")}
    config.update(SECRET_KEY=app.config["SECRET_KEY"], BACKORDERS_RUN_WORKER=False, **extra)
    for key, value in config.items():
        env[f"FLASK_{key}"] = json.dumps(value)
    return env


def test_a_worker_killed_mid_delivery_loses_no_event(
    make_app: MakeApp, embedded: ChainEnv, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(delay=2.0)  # slow enough to kill the worker while it waits
    try:
        app = make_app(embedded)
        client = app.test_client()
        put_product(client)
        subscribe(app, receiver.url, ["order.placed"])
        place(client, embedded.buyers[0])
        env = _env(app, {"BACKORDERS_WEBHOOK_TIMEOUT": 0.5, "BO_TEST_INSTANCE": str(tmp_path)})
        env["BO_TEST_INSTANCE"] = str(tmp_path)
        cmd = [sys.executable, "-m", "flask", "--app", "tests.apps.env_app", "backorders", "deliver"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not receiver.arrived and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = get_state(app)
        statuses = state.read(lambda s: [d.status for d in s.scalars(select(WebhookDelivery))])
        assert statuses == ["delivering"]  # the worker died holding the lease
        receiver.delay = 0
        time.sleep(6)  # the lease (2 x timeout + 5 s) runs out
        subprocess.run([*cmd, "--once"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        statuses = state.read(lambda s: [d.status for d in s.scalars(select(WebhookDelivery))])
        assert statuses == ["succeeded"]
        assert len({r["headers"]["Backorders-Event-Id"] for r in receiver.received}) == 1
    finally:
        receiver.stop()


def test_two_workers_on_postgres_never_send_an_event_twice(
    make_app: MakeApp, embedded: ChainEnv, postgres_url: str, tmp_path: Path
) -> None:
    receiver = WebhookReceiver()
    try:
        app = make_app(embedded, database_url=postgres_url)
        client = app.test_client()
        put_product(client, per_customer_cap=None, queue_cap=None)
        first = subscribe(app, receiver.url + "/a", ["order.placed", "order.cancelled"])
        second = subscribe(app, receiver.url + "/b", ["order.placed"])
        for i in range(40):
            body = order_body(
                embedded.buyers[i % 6].address,
                email=f"c{i}@example.com",
                shipping={
                    "name": "C",
                    "line1": f"{i} Way",
                    "city": "Turin",
                    "postal_code": "10100",
                    "country": "IT",
                },
            )
            order = client.post("/backorders/orders", json=body).get_json()
            if i % 4 == 0:
                client.post(
                    f"/backorders/orders/{order['id']}/cancel",
                    headers={"Authorization": f"Bearer {order['secret']}"},
                )
        env = _env(app, {"BACKORDERS_DATABASE_URL": postgres_url})
        env["BO_TEST_INSTANCE"] = str(tmp_path)
        cmd = [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "tests.apps.env_app",
            "backorders",
            "deliver",
            "--once",
        ]
        workers = [
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=180)
            assert worker.returncode == 0, err.decode()[-2000:]
        deliver(app)  # whatever the two left (nothing, normally)
        seen = Counter((r["path"], r["headers"]["Backorders-Event-Id"]) for r in receiver.received)
        assert seen and max(seen.values()) == 1, [k for k, v in seen.items() if v > 1]
        state = get_state(app)
        expected = state.read(lambda s: s.scalar(select(func.count()).select_from(WebhookDelivery)))
        assert len(seen) == expected == 40 + 10 + 40
        assert {p for p, _ in seen} == {"/hooks/a", "/hooks/b"}
        del first, second
    finally:
        receiver.stop()


def test_signals_are_sent_after_commit_and_never_for_a_rollback(
    make_app: MakeApp, embedded: ChainEnv
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    got: list[tuple[str, str]] = []

    def on_placed(sender: str, **kwargs: Any) -> None:
        # The order is committed by the time the signal arrives: another session can read it.
        status = client.get(f"/backorders/admin/orders/{sender}", headers=ADMIN).status_code
        got.append((kwargs["event"], str(status)))

    signals.order_placed.connect(on_placed)
    try:
        place(client, embedded.buyers[0])
        assert got == [("order.placed", "200")]
        state = get_state(app)
        from flask_backorders.lifecycle import record_event
        from flask_backorders.models import Order

        def rolled_back(session: Any) -> None:
            order = session.scalars(select(Order)).first()
            record_event(session, "order.placed", now=state.now(), order=order)
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            state.transaction(rolled_back)
        assert len(got) == 1
        assert state.read(lambda s: s.scalar(select(func.count()).select_from(OutboxEvent))) == 0
    finally:
        signals.order_placed.disconnect(on_placed)
