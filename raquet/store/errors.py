"""Why a store cannot be used, and the retry that waits out a locked or unreachable one."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import OperationalError

P = ParamSpec("P")
R = TypeVar("R")

# Tables added while no store was deployed joined version 1 (create_all adds missing
DEFAULT_WRITE_TIMEOUT = 120.0


class StoreError(Exception):
    """The store cannot be used: it does not open, is not raquet's (or another schema
    version), or stayed locked or unreachable longer than a write may wait."""


def write_timeout() -> float:
    """How long one write keeps retrying a locked or unreachable store before giving up
    (`RAQUET_STORE_WRITE_TIMEOUT`, seconds; default two minutes)."""
    raw = os.environ.get("RAQUET_STORE_WRITE_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_WRITE_TIMEOUT
    except ValueError:
        raise StoreError(
            f"RAQUET_STORE_WRITE_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None
    if not 0 <= value <= 86_400:
        raise StoreError("RAQUET_STORE_WRITE_TIMEOUT must be between 0 and 86400 seconds")
    return value


def _reason(exc: BaseException) -> str:
    """The database's own words, without SQLAlchemy's statement dump and links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().split("\n")[0]
    return text or type(exc).__name__


_TRANSIENT = ("locked", "busy", "connection", "server closed", "timeout", "terminating")


def _transient(exc: OperationalError) -> bool:
    """A lock another process holds, or a database connection that dropped: worth waiting
    for. A file that cannot be opened or a wrong password is not."""
    return bool(exc.connection_invalidated) or any(
        word in _reason(exc).lower() for word in _TRANSIENT
    )


def retried(method: Callable[P, R]) -> Callable[P, R]:
    """A write that waits out a lock held by another process (or a dropped PostgreSQL
    connection) instead of losing the result: retried with a cooperative sleep, so the
    sweep's other greenlets go on, until `write_timeout()` has passed."""

    @functools.wraps(method)
    def write(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        deadline = time.monotonic() + write_timeout()
        delay = 0.05
        while True:
            try:
                return method(*args, **kwargs)
            except OperationalError as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    url = getattr(store, "url", "the store")
                    raise StoreError(f"could not write to {url}: {_reason(exc)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    return write


class NotFound(KeyError):
    """A reference to nothing stored; printable as is, unlike a bare KeyError."""

    def __str__(self) -> str:
        return str(self.args[0])


class SweepNotFound(NotFound):
    """A sweep reference that names no sweep."""


class FeedNotFound(NotFound):
    """A feed name that names no imported feed."""


class VulnDatasetNotFound(NotFound):
    """A name that names no imported vulnerability data set."""
