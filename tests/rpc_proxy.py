"""A fault-injecting JSON-RPC proxy in front of a real node (anvil), on 127.0.0.1.

Faults are set per test: ``proxy.fail_next(n, kind)`` with kinds ``http503``, ``http429``, ``garbage``
(malformed JSON), ``drop`` (close the connection without answering), ``slow`` (answer after the client's
timeout), ``rpc_error`` (a JSON-RPC error object), and ``max_log_range`` to refuse wide ``eth_getLogs``.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[str] = []
        self.only_methods: set[str] | None = None
        self.max_log_range: int | None = None
        self.head_lag = 0  # answer "latest" with a block this many behind (a lagging node behind a balancer)
        self.random_faults: tuple[random.Random, float, list[str]] | None = None
        self.slow_seconds = 3.0
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                proxy.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, count: int, kind: str, methods: set[str] | None = None) -> None:
        with self._lock:
            self.faults.extend([kind] * count)
            self.only_methods = methods

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.max_log_range = None

    def _take_fault(self, method: str) -> str | None:
        with self._lock:
            if self.random_faults is not None:
                rng, rate, kinds = self.random_faults
                if rng.random() < rate:
                    fault = rng.choice(kinds)
                    self.injected[fault] += 1
                    return fault
            if self.faults and (self.only_methods is None or method in self.only_methods):
                fault = self.faults.pop(0)
                self.injected[fault] += 1
                return fault
        return None

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        method = payload.get("method", "?") if isinstance(payload, dict) else "batch"
        self.calls[method] += 1
        fault = self._take_fault(method)
        if fault == "drop":
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault in ("http503", "http429"):
            self._send(handler, 503 if fault == "http503" else 429, b'{"error":"busy"}')
            return
        if fault == "garbage":
            self._send(handler, 200, b'{"jsonrpc":"2.0","id":1,"result":')
            return
        if fault == "rpc_error":
            self._send(
                handler,
                200,
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": payload.get("id"),
                        "error": {"code": -32000, "message": "header not found"},
                    }
                ).encode(),
            )
            return
        if (
            self.head_lag
            and method == "eth_getBlockByNumber"
            and isinstance(payload, dict)
            and payload["params"][0] == "latest"
        ):
            head = requests.post(
                self.upstream,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                timeout=30,
            ).json()["result"]
            payload["params"][0] = hex(max(int(head, 16) - self.head_lag, 0))
            body = json.dumps(payload).encode()
        if method == "eth_getLogs" and self.max_log_range is not None:
            params = payload["params"][0]
            span = int(params["toBlock"], 16) - int(params["fromBlock"], 16) + 1
            if span > self.max_log_range:
                self._send(
                    handler,
                    200,
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": payload.get("id"),
                            "error": {
                                "code": -32005,
                                "message": f"query exceeds max block range {self.max_log_range}",
                            },
                        }
                    ).encode(),
                )
                return
        upstream = requests.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        self._send(handler, upstream.status_code, upstream.content)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
