"""Malware detections and pending updates: each stored once, whoever writes it first."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    select,
)

from raquet.models import Detection
from raquet.store.base import StoreBase
from raquet.store.clean import (
    _clean_optional,
    as_utc,
    clean_text,
)
from raquet.store.columns import (
    _DETECTION_COLUMNS,
    _DETECTION_FIELDS,
)
from raquet.store.errors import retried
from raquet.store.schema import (
    DetectionRow,
    PendingUpdateRow,
)
from raquet.store.views import StoredDetection


def _pending_key(host: str, package: str, version: str) -> str:
    identity = json.dumps([host, clean_text(package), clean_text(version)], ensure_ascii=False)
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def detection_row(
    sweep_id: str, host: str, unit: str, detection: Detection, recorded_at: datetime
) -> dict[str, Any]:
    detected_at = as_utc(detection.detected_at)
    name, path = clean_text(detection.name), clean_text(detection.path)
    identity = json.dumps([host, detected_at.isoformat(), path, name], ensure_ascii=False)
    return {
        "key": hashlib.sha256(identity.encode("utf-8")).hexdigest(),
        "host": host,
        "unit": unit,
        "name": name,
        "path": path,
        "detected_at": detected_at,
        "source": clean_text(detection.source),
        "action": _clean_optional(detection.action),
        "first_sweep_id": sweep_id,
        "recorded_at": recorded_at,
    }


class Detections(StoreBase):
    def _insert_new(self, table: type[DetectionRow] | type[PendingUpdateRow]) -> Any:
        """INSERT of rows whose `key` is not stored yet: the database, not a prior SELECT,
        decides, so jump hosts writing the same row at once never collide."""
        from sqlalchemy.dialects import postgresql, sqlite  # one dialect's insert, when needed

        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing(index_elements=["key"])

    @retried
    def record_detections(
        self, sweep_id: str, host: str, unit: str, detections: list[Detection]
    ) -> int:
        """Store the detections not stored yet (by host, time, path, name); how many were new.

        Several jump hosts may record the same detection at once: the database, not a
        prior SELECT, decides which insert wins (INSERT … ON CONFLICT DO NOTHING).
        """
        host, unit = clean_text(host), clean_text(unit)
        now = datetime.now(UTC)
        rows: dict[str, dict[str, Any]] = {}
        for detection in detections:
            row = detection_row(sweep_id, host, unit, detection, now)
            rows.setdefault(row["key"], row)
        with self._sessions.begin() as session:
            self._sweep(session, sweep_id)
            if not rows:
                return 0
            statement = self._insert_new(DetectionRow).returning(DetectionRow.id)
            new = session.connection().execute(statement, list(rows.values()))
            return len(new.all())

    @retried
    def pending_since(
        self, host: str, updates: list[tuple[str, str]], seen_at: datetime
    ) -> dict[tuple[str, str], datetime]:
        """When each (package, version) pending on `host` was first seen; the ones never seen
        before are recorded as first seen at `seen_at` (the host's own clock)."""
        host = clean_text(host)
        rows: dict[str, dict[str, Any]] = {
            _pending_key(host, package, version): {
                "key": _pending_key(host, package, version),
                "host": host,
                "package": clean_text(package),
                "version": clean_text(version),
                "first_seen": as_utc(seen_at),
            }
            for package, version in updates
        }
        if not rows:
            return {}
        insert_new = self._insert_new(PendingUpdateRow)
        query = select(PendingUpdateRow.key, PendingUpdateRow.first_seen).where(
            PendingUpdateRow.key.in_(rows)
        )
        with self._sessions.begin() as session:
            session.connection().execute(insert_new, list(rows.values()))
            first_seen = {key: seen for key, seen in session.execute(query)}
        wanted = {
            _pending_key(host, package, version): (package, version) for package, version in updates
        }
        return {pair: first_seen[key] for key, pair in wanted.items()}

    def detections(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        unit: str | None = None,
        host: str | None = None,
    ) -> list[StoredDetection]:
        """Detections with `since` <= detected_at < `until`, oldest first.

        The half-open window lets weekly reports ask for [Monday, next Monday) without
        counting a detection at midnight twice.
        """
        query = select(*_DETECTION_COLUMNS).order_by(DetectionRow.detected_at, DetectionRow.id)
        if since is not None:
            query = query.where(DetectionRow.detected_at >= as_utc(since))
        if until is not None:
            query = query.where(DetectionRow.detected_at < as_utc(until))
        if unit is not None:
            query = query.where(DetectionRow.unit == unit)
        if host is not None:
            query = query.where(DetectionRow.host == host)
        with self._sessions.begin() as session:
            return [
                StoredDetection.model_validate(dict(zip(_DETECTION_FIELDS, values, strict=True)))
                for values in session.execute(query)
            ]
