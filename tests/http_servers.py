"""Real local HTTP servers standing in for third-party APIs (a screening API, a file download)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[str, dict[str, str]], tuple[int, bytes, str]]


class LocalServer:
    """Serves ``handler(path, headers) -> (status, body, content type)`` on 127.0.0.1; logs requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, headers))
                status, body, content_type = server.handler(self.path, headers)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ScreeningApi:
    """An address-screening API in the documented shape of Chainalysis' sanctions API."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.sanctioned: set[str] = set()
        self.mode = "ok"  # ok | error500 | garbage | slow
        self.server = LocalServer(self.handle)
        self.url = self.server.url + "/api/v1"

    def handle(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if headers.get("x-api-key") != self.api_key:
            return 403, b'{"message": "Forbidden"}', "application/json"
        if self.mode == "error500":
            return 500, b'{"message": "Internal error"}', "application/json"
        if self.mode == "garbage":
            return 200, b"<html>maintenance</html>", "text/html"
        if self.mode == "slow":
            time.sleep(1.5)
        address = path.rsplit("/", 1)[-1].lower()
        identifications = []
        if address in self.sanctioned:
            identifications.append(
                {
                    "category": "sanctions",
                    "name": "SANCTIONS: OFAC SDN Test Entity",
                    "description": "Listed for tests",
                    "url": "https://home.treasury.gov/",
                }
            )
        return 200, json.dumps({"identifications": identifications}).encode(), "application/json"

    def stop(self) -> None:
        self.server.stop()


class WebhookReceiver:
    """A webhook receiver that logs every POST and answers from a script (then 200)."""

    def __init__(self, script: list[int] | None = None, delay: float = 0.0) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.received: list[dict[str, Any]] = []
        self.arrived = 0
        self._lock = threading.Lock()
        receiver = self

        class RequestHandler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.arrived += 1
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "status": status,
                        }
                    )
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except BrokenPipeError:
                    pass  # the sender went away (a killed worker): that is what the test wanted

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self, ok_only: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(r["body"]) for r in self.received if not ok_only or r["status"] == 200]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
