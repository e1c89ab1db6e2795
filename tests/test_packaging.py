"""The wheel ships what the package loads at run time: ABIs and bytecode, migrations, templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from flask_backorders.chain.artifacts import load_artifact

from .support import ROOT


def test_wheel_contains_contract_artifacts_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("flask_backorders-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for contract in ("BackorderEscrow", "TestToken", "SanctionsList", "TestPriceFeed"):
        assert f"flask_backorders/contracts_abi/build/{contract}.json" in names
    assert "flask_backorders/contracts_abi/BackorderEscrow.sol" in names
    assert "flask_backorders/migrations/env.py" in names
    assert "flask_backorders/migrations/script.py.mako" in names
    assert any(n.startswith("flask_backorders/migrations/versions/0001") for n in names)
    assert "flask_backorders/py.typed" in names
    assert "flask_backorders/templates/backorders/checkout.html" in names
    assert "flask_backorders/static/checkout.js" in names
    # Every Python package of the source tree is in the wheel (a missing one breaks a non-editable install).
    source = ROOT / "plugin"
    for init in source.rglob("__init__.py"):
        assert init.relative_to(source).as_posix() in names, init


def test_artifacts_record_the_pinned_compiler_and_evm_version() -> None:
    artifact = load_artifact("BackorderEscrow")
    assert artifact["compiler"]["version"].startswith("0.8.37")
    assert artifact["settings"] == {"evmVersion": "prague", "optimizer": {"enabled": True, "runs": 200}}
    names = {item.get("name") for item in artifact["abi"]}
    assert {
        "deposit",
        "depositToken",
        "capture",
        "void",
        "reclaim",
        "escrowOf",
        "Deposited",
        "Captured",
        "Voided",
        "Reclaimed",
    } <= names
