"""The Flask extension object: ``Backorders(app)`` or ``Backorders()`` + ``init_app(app)``."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, Request, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings, parse_settings
from .db import make_engine, make_session_factory, run_in_transaction

if TYPE_CHECKING:
    from .chain.embedded import EmbeddedChain
    from .chain.runtime import ChainRuntime
    from .chain.watcher import Worker
    from .compliance import Check, CheckFunction, ComplianceGate
    from .webhooks import WebhookDeliverer

log = logging.getLogger(__name__)
T = TypeVar("T")

AdminCallback = Callable[[Request], bool]
AdminIdentity = Callable[[Request], str]
CustomerVerified = Callable[[Request, str], bool]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BackordersState:
    """Per-app state, stored in ``app.extensions["backorders"]``."""

    settings: Settings
    engine: Engine
    session_factory: Callable[[], Session]
    clock: Callable[[], datetime]
    authorize_admin: AdminCallback | None
    read_session_factory: Callable[[], Session] | None = None
    admin_identity: AdminIdentity | None = None
    customer_verified: CustomerVerified | None = None
    chain: ChainRuntime | None = None
    compliance: ComplianceGate | None = None
    deliverer: WebhookDeliverer | None = None
    worker: Worker | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction of its own, committed, with transient conflicts retried."""
        return run_in_transaction(self.session_factory, work)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a read-only session (it must not write); on SQLite it does not block writers."""
        session = (self.read_session_factory or self.session_factory)()
        try:
            return work(session)
        finally:
            session.close()

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        """Stop the background worker and close the database connections (app shutdown, tests)."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.engine.dispose()

    def require_compliance(self) -> ComplianceGate:
        if self.compliance is None:
            raise RuntimeError("the compliance gate is not set up")
        return self.compliance

    def require_chain(self) -> ChainRuntime:
        if self.chain is None:
            from .errors import ServiceUnavailable

            raise ServiceUnavailable("No chain is configured.")
        return self.chain


def get_state(app: Flask | None = None) -> BackordersState:
    """The extension state of ``app`` (default: the current app)."""
    target = app or current_app
    try:
        state: BackordersState = target.extensions["backorders"]
    except KeyError:
        raise RuntimeError(
            "Flask-Backorders is not set up on this app; did you forget Backorders(app) or init_app(app)?"
        ) from None
    return state


class Backorders:
    """Backorders paid with on-chain deposits, for a Flask app.

    :param app: initialise for this app right away (else call :meth:`init_app` later).
    :param authorize_admin: ``callback(request) -> bool`` that grants admin access (e.g. the host's staff
        login). Without it and without ``BACKORDERS_ADMIN_TOKEN`` every admin route is refused.
    :param engine: use this SQLAlchemy engine instead of ``BACKORDERS_DATABASE_URL``.
    :param session_factory: use the host's session factory (it must be bound to the tables' database).
    :param clock: ``() -> aware datetime`` (tests inject one).
    :param chain: an already started embedded chain to use instead of starting one.
    :param start_chain: set False to run without any chain (API for products and admin only).
    :param checks: compliance checks of the merchant's, run after the built-in ones (see also :meth:`check`).
    :param admin_identity: ``callback(request) -> str`` naming the admin in audit records (review decisions).
    :param customer_verified: ``callback(request, email) -> bool``: has the shop verified this buyer (KYC)?
        Orders above ``BACKORDERS_KYC_THRESHOLD`` from unverified buyers go to compliance review.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        authorize_admin: AdminCallback | None = None,
        engine: Engine | None = None,
        session_factory: sessionmaker[Session] | Callable[[], Session] | None = None,
        clock: Callable[[], datetime] | None = None,
        chain: EmbeddedChain | None = None,
        start_chain: bool = True,
        checks: list[Check] | None = None,
        admin_identity: AdminIdentity | None = None,
        customer_verified: CustomerVerified | None = None,
    ) -> None:
        self.authorize_admin = authorize_admin
        self.admin_identity = admin_identity
        self.customer_verified = customer_verified
        self._checks: list[Check] = list(checks or ())
        self._engine = engine
        self._session_factory = session_factory
        self._clock = clock or utc_now
        self._chain = chain
        self._start_chain = start_chain
        if app is not None:
            self.init_app(app)

    def check(
        self,
        name: str,
        *,
        stages: tuple[str, ...] = ("placement", "deposit", "fulfilment", "refund"),
        version: str = "1",
    ) -> Callable[[CheckFunction], CheckFunction]:
        """Register a compliance check of your own (before ``init_app``)::

        @backorders.check("age_verified", stages=("fulfilment",))
        def age_verified(ctx: CheckContext) -> CheckResult:
            return passed("ok") if ctx.order.customer_verified else review("verify the buyer's age")
        """
        from .compliance import Check, Stage

        def decorator(fn: CheckFunction) -> CheckFunction:
            self._checks.append(
                Check(name=name, run=fn, stages=frozenset(Stage(s) for s in stages), version=version)
            )
            return fn

        return decorator

    def init_app(self, app: Flask) -> None:
        """Validate settings, connect the database and chain, register the blueprint and the CLI."""
        if "backorders" in app.extensions:
            raise RuntimeError(
                "Flask-Backorders is already initialised on this app; call init_app once per app."
            )
        settings = parse_settings(app.config, app.instance_path)
        if settings.database_url.startswith("sqlite:///") and self._engine is None:
            import os

            os.makedirs(app.instance_path, exist_ok=True)
        engine = self._engine or make_engine(settings.database_url)
        session_factory = self._session_factory or make_session_factory(engine)
        read_session_factory = None if self._session_factory else make_session_factory(engine, read_only=True)
        if settings.auto_migrate:
            from .migrate import upgrade

            upgrade(engine)
        state = BackordersState(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            read_session_factory=read_session_factory,
            clock=self._clock,
            authorize_admin=self.authorize_admin,
            admin_identity=self.admin_identity,
            customer_verified=self.customer_verified,
        )
        if self._start_chain:
            from .chain.runtime import build_runtime

            state.chain = build_runtime(settings, session_factory, self._clock, embedded=self._chain)
        from .compliance import ComplianceGate
        from .compliance.setup import build_registry

        oracle = settings.sanctions_oracle
        if oracle is None and state.chain is not None and state.chain.embedded is not None:
            oracle = state.chain.embedded.sanctions_oracle
        registry = build_registry(settings, state.chain.w3 if state.chain else None, oracle, self._checks)
        state.compliance = ComplianceGate(
            registry, settings, session_factory, self._clock, allocation_policy=settings.allocation
        )
        from .webhooks import WebhookDeliverer

        state.deliverer = WebhookDeliverer(
            session_factory,
            self._clock,
            timeout=settings.webhook_timeout,
            retry_hours=settings.webhook_retry_hours,
        )
        app.extensions["backorders"] = state

        from .api import make_blueprint
        from .cli import backorders_cli

        app.register_blueprint(make_blueprint(settings.url_prefix))
        if "backorders" not in app.cli.commands:
            app.cli.add_command(backorders_cli)
        from .api.errors import register_error_handlers

        register_error_handlers(app, settings.url_prefix)

        if settings.run_worker and state.chain is not None and not app.testing:
            state.worker = start_worker(state)

    @staticmethod
    def state(app: Flask | None = None) -> BackordersState:
        """The per-app state (settings, engine, chain)."""
        return get_state(app)


def worker_steps(state: BackordersState) -> list[Callable[[], object]]:
    """One worker round: produce a block on the embedded chain, watch, screen, send payouts, tell buyers
    about lapsed ETAs, deliver webhooks."""
    chain = state.require_chain()
    steps: list[Callable[[], object]] = []
    if chain.embedded is not None:
        embedded = chain.embedded

        def produce_block() -> None:
            embedded.mine(1)

        steps.append(produce_block)
    if chain.watcher is not None:
        steps.append(chain.watcher.tick)
    steps.append(state.require_compliance().tick)
    if chain.sender is not None:
        steps.append(chain.sender.tick)
    steps.append(lambda: lapse_overdue_etas(state))
    if state.deliverer is not None:
        steps.append(state.deliverer.tick)
    return steps


def lapse_overdue_etas(state: BackordersState) -> int:
    """Worker step: products whose ETA passed without a restock send delay notices (once)."""
    from .notices import lapse_overdue_etas as lapse

    return state.transaction(lambda s: lapse(s, now=state.now(), link_base=state.settings.link_base))


def start_worker(state: BackordersState) -> Worker:
    from .chain.watcher import Worker

    worker = Worker(worker_steps(state), state.settings.poll_interval)
    worker.start()
    atexit.register(worker.stop)
    log.info("Flask-Backorders worker started (every %.1f s)", state.settings.poll_interval)
    return worker
