"""The Celery application both sides build from the same settings: broker, queues, and
the delivery guarantees a sweep relies on."""

from __future__ import annotations

import os

from celery import Celery
from pydantic import BaseModel, ConfigDict

from raquet.errors import InputError, Problem
from raquet.models import OsName, Role

TASK = "raquet.sweep_host"
QUEUE_PREFIX = "raquet."
DEFAULT_BROKER = "redis://localhost:6379/0"
# A task not acknowledged this long after delivery is given to another worker (Redis;
# RabbitMQ redelivers when the consumer's connection drops). Longer than any host's
# deadline (default 760 s), so a slow host is never swept twice at once.
DEFAULT_VISIBILITY_TIMEOUT = 1800.0


class Planned(BaseModel):
    """What a task says about its host: names only (the worker's inventory has the rest;
    os and role let it say plainly that a host it does not know was not swept)."""

    model_config = ConfigDict(extra="forbid")

    host: str
    unit: str
    os: OsName = "linux"
    role: Role = "server"


def queue_for(segment: str) -> str:
    return f"{QUEUE_PREFIX}{segment}"


def segment_of(queue: str) -> str | None:
    return queue.removeprefix(QUEUE_PREFIX) if queue.startswith(QUEUE_PREFIX) else None


def broker_url(given: str | None) -> str:
    """`--broker`, else RAQUET_BROKER, else a Redis on this jump host."""
    return given or os.environ.get("RAQUET_BROKER") or DEFAULT_BROKER


def visibility_timeout() -> float:
    raw = os.environ.get("RAQUET_VISIBILITY_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_VISIBILITY_TIMEOUT
    except ValueError:
        value = -1
    if value <= 0:
        raise InputError(
            [Problem("RAQUET_VISIBILITY_TIMEOUT", None, "", f"expected seconds > 0, got {raw!r}")]
        )
    return value


def make_app(broker: str | None) -> Celery:
    """The app, with no result backend: results go to the store, where the dispatcher and
    reports read them, never through the broker."""
    app = Celery("raquet", broker=broker_url(broker), set_as_current=False)
    restore = max(1.0, min(10.0, visibility_timeout() / 10))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=queue_for("default"),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout(),
            "unacked_restore_interval": restore,
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


class BrokerUnreachable(Exception):
    """The broker does not answer: nothing can be dispatched or listed."""


def reach(app: Celery) -> None:
    """Connect to the broker once (BrokerUnreachable, with its reason, when it does not
    answer), before a sweep is begun that no worker could be given."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # kombu wraps each transport's own errors differently
        shown = app.conf.broker_url
        raise BrokerUnreachable(f"cannot reach the broker {_hide_password(shown)}: {exc}") from exc


def _hide_password(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))
