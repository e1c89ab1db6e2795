"""``python -m examples.shop [--port 5000]``: run the demo shop on the embedded default."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from examples.shop import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Flask-Backorders demo shop")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not os.environ.get("SHOP_DATABASE_URL") and not os.environ.get("BACKORDERS_RPC_URL"):
        # The demo chain lives in memory: start its database afresh too, so no order points at a lost chain.
        for stale in Path.cwd().glob("instance/backorders.sqlite3*"):
            stale.unlink()
    app = create_app()
    base = f"http://{args.host}:{args.port}"
    token = app.config["BACKORDERS_ADMIN_TOKEN"]
    print(
        f"""
  Flask-Backorders demo shop (SQLite + in-process EVM, watcher running)

  Shop:       {base}/                      every product is sold out: click one, then "Reserve"
  Dashboard:  {base}/backorders/dashboard/  admin token: {token}
  API:        {base}/backorders/openapi.json

  Press Ctrl+C to stop. The demo chain lives in memory: it (and the demo database) start afresh each time.
""",
        flush=True,
    )
    app.run(host=args.host, port=args.port, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
