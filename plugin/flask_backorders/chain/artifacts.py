"""Compiled contract artifacts (ABI + bytecode), shipped inside the wheel as package data."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The artifact of contract ``name`` (e.g. ``"BackorderEscrow"``) as written by ``compile.js``."""
    path = resources.files("flask_backorders.contracts_abi").joinpath("build", f"{name}.json")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise LookupError(f"no compiled artifact named {name!r}") from None
    return data


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract ``name``."""
    result: list[dict[str, Any]] = load_artifact(name)["abi"]
    return result


def bytecode(name: str) -> str:
    """The creation bytecode of contract ``name`` (0x-hex)."""
    result: str = load_artifact(name)["bytecode"]
    return result
