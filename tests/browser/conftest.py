"""Browser fixtures: the demo shop on a real WSGI server with its worker running, and Debian's chromium
driven by Playwright."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from examples.screenshots import ARGS as CHROMIUM_ARGS
from flask import Flask
from werkzeug.serving import make_server

from flask_backorders import get_state

from ..support import in_ci

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

ADMIN_TOKEN = "browser-admin-token-0123456789"


@dataclass
class LiveShop:
    app: Flask
    url: str

    @property
    def state(self) -> Any:
        return get_state(self.app)

    def demo_account(self, index: int) -> Any:
        return self.state.chain.embedded.demo_accounts[index]


@pytest.fixture
def live_shop(tmp_path: Path) -> Iterator[LiveShop]:
    from examples.shop import create_app

    app = create_app(
        {
            "BACKORDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
            "BACKORDERS_POLL_INTERVAL": 0.2,
            "BACKORDERS_ADMIN_TOKEN": ADMIN_TOKEN,
            "SECRET_KEY": "browser-test-secret-key-0123456789",
        },
        instance_path=str(tmp_path),
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveShop(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        get_state(app).close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail("chromium is missing: .ci/run installs it from Debian")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()
