"""Flask-Backorders: backorders paid with on-chain crypto deposits held in escrow until restock.

Public API::

    from flask_backorders import Backorders
    backorders = Backorders(app, authorize_admin=lambda request: current_user.is_staff)
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import signals
from .errors import BackordersError, ConfigurationError, IllegalTransition, NotFound, ValidationFailed
from .extension import Backorders, BackordersState, get_state
from .states import OrderStatus

__all__ = [
    "Backorders",
    "BackordersError",
    "BackordersState",
    "ConfigurationError",
    "IllegalTransition",
    "NotFound",
    "OrderStatus",
    "ValidationFailed",
    "__version__",
    "get_state",
    "signals",
]
