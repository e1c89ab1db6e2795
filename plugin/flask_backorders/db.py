"""Engine and session set-up, and :func:`run_in_transaction`, the one way services are committed.

SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` (so a writer takes the write lock up
front instead of failing on upgrade). PostgreSQL serialization failures and deadlocks, and a SQLite
``database is locked`` that outlived the busy timeout, are retried inside with jittered backoff.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

T = TypeVar("T")

READ_ONLY = "backorders_read_only"

#: SQLSTATEs worth retrying: serialization_failure, deadlock_detected, lock_not_available.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine configured for safe concurrent use of SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    memory = parsed.database in (None, "", ":memory:")
    if memory:
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) emit BEGIN, so that we can make it IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front; read-only sessions (see read_only) do not block writers.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views serialise after committing).

    ``read_only`` sessions begin without taking SQLite's write lock; never write with them.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def is_retryable(error: BaseException) -> bool:
    """True for a transient concurrency failure that a fresh transaction may not hit."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(orig)


def run_in_transaction(
    session_factory: Callable[[], Session],
    work: Callable[[Session], T],
    *,
    attempts: int = 8,
) -> T:
    """Run ``work(session)`` in its own transaction and commit, retrying transient conflicts.

    ``work`` must be safe to run again from the start (it is: it only talks to the database).
    """
    for attempt in range(1, attempts + 1):
        session = session_factory()
        try:
            result = work(session)
            session.commit()
            return result
        except DBAPIError as error:
            session.rollback()
            if attempt == attempts or not is_retryable(error):
                raise
            delay = min(0.5, 0.01 * 2**attempt) * (0.5 + random.random())
            log.info("retrying a transaction after a transient conflict (attempt %d)", attempt)
            time.sleep(delay)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")
