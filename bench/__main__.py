"""``python -m bench [--full] [--only NAME ...]``: every benchmark, each against a baseline measured in the
same run. Prints markdown tables, writes JSON to bench/out/ and the tables to bench/out/results.md."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from . import allocation_bench, gas_bench, placement_bench, quotes_bench, watcher_bench
from .common import OUT, machine

BENCHES = {
    "gas": gas_bench,
    "quotes": quotes_bench,
    "allocation": allocation_bench,
    "watcher": watcher_bench,
    "placement": placement_bench,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--full", action="store_true", help="larger sizes (5,000 pending orders, longer loads)"
    )
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=None)
    args = parser.parse_args()
    started = time.monotonic()
    header = f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}" + (
        " (--full)" if args.full else ""
    )
    print(header + "\n", flush=True)
    parts = [header, ""]
    for name in args.only or list(BENCHES):
        table = BENCHES[name].run(args.full)
        print(table, flush=True)
        parts.append(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.md").write_text("\n".join(parts))
    print(f"done in {time.monotonic() - started:.0f} s; tables in {OUT / 'results.md'}")


if __name__ == "__main__":
    main()
