"""Solidity sources and compiled artifacts of the escrow, shipped inside the wheel.

Installed as ``flask_backorders.contracts_abi``; read the artifacts with
:func:`flask_backorders.chain.artifacts.load_artifact`.
"""
