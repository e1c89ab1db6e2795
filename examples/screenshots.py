"""``./dev screenshots``: screenshots of the checkout page and the dashboard, desktop and phone widths.

Starts the demo shop on a temporary database, places and pays an order with a demo wallet, restocks part of
another product, and saves PNGs to ``screenshots/``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from examples.shop import create_app
from flask_backorders import get_state

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
TOKEN = "screenshot-admin-token-0123456789"  # noqa: S105 - a throwaway demo server's admin token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "BACKORDERS_DATABASE_URL": f"sqlite:///{tmp}/shop.sqlite3",
                "BACKORDERS_POLL_INTERVAL": 0.3,
                "BACKORDERS_ADMIN_TOKEN": TOKEN,
            },
            instance_path=tmp,
        )
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        demo = get_state(app).require_chain().embedded
        assert demo is not None
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS
                )
                for name, size in SIZES.items():
                    page = browser.new_context(viewport=size).new_page()
                    page.goto(f"{base}/backorders/reserve/VAULT-ONE")
                    page.screenshot(path=out / f"reserve-{name}.png", full_page=True)
                    page.get_by_label("E-mail").fill("ada@example.com")
                    page.get_by_label("Demo chain: or pick a funded demo wallet").select_option(
                        index=1 if name == "desktop" else 2
                    )
                    for label, value in (
                        ("Full name", "Ada Lovelace"),
                        ("City", "London"),
                        ("Postal code", "N1 9GU"),
                        ("Country (ISO code, e.g. DE)", "GB"),
                    ):
                        page.get_by_label(label).fill(value)
                    page.get_by_label("Address", exact=True).fill("1 Analytical St")
                    page.get_by_role("button", name="Get my payment details").click()
                    page.wait_for_url("**/checkout/**")
                    page.screenshot(path=out / f"checkout-{name}.png", full_page=True)
                    page.get_by_role("button", name="Pay with demo wallet (demo chain only)").click()
                    page.wait_for_function(
                        "(document.getElementById('status') || {}).textContent === 'held'", timeout=30_000
                    )
                    time.sleep(0.5)
                    page.screenshot(path=out / f"checkout-held-{name}.png", full_page=True)
                    admin = browser.new_context(viewport=size).new_page()
                    admin.goto(f"{base}/backorders/dashboard/")
                    admin.get_by_label("Admin token").fill(TOKEN)
                    admin.get_by_role("button", name="Sign in").click()
                    admin.get_by_role("heading", name="Products").wait_for()
                    admin.screenshot(path=out / f"dashboard-{name}.png", full_page=True)
                    admin.goto(f"{base}/backorders/dashboard/orders")
                    admin.locator("table a.bo-mono").first.click()
                    admin.screenshot(path=out / f"dashboard-order-{name}.png", full_page=True)
                browser.close()
        finally:
            server.shutdown()
            get_state(app).close()
    for png in sorted(out.glob("*.png")):
        print(png)


if __name__ == "__main__":
    main()
