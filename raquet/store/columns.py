"""The column lists the reads select, and the records their rows become."""

from __future__ import annotations

from typing import Any

from raquet.models import HostResult
from raquet.store.schema import DetectionRow, FindingRow, HostResultRow

# A host is compliant when none of its findings is one of these.
NOT_COMPLIANT = ("fail", "error")


_HOST_FIELDS = (
    "name",
    "unit",
    "os",
    "role",
    "address",
    "status",
    "error",
    "started_at",
    "finished_at",
)
_HOST_COLUMNS = (
    HostResultRow.id,
    HostResultRow.host,
    HostResultRow.unit,
    HostResultRow.os,
    HostResultRow.role,
    HostResultRow.address,
    HostResultRow.status,
    HostResultRow.error,
    HostResultRow.started_at,
    HostResultRow.finished_at,
)
_FINDING_FIELDS = ("check", "status", "severity", "title", "evidence")
_FINDING_COLUMNS = (
    FindingRow.check,
    FindingRow.status,
    FindingRow.severity,
    FindingRow.title,
    FindingRow.evidence,
)


def _host_result(values: dict[str, Any], findings: list[dict[str, Any]]) -> HostResult:
    return HostResult.model_validate({**values, "findings": findings})


_DETECTION_FIELDS = (
    "host",
    "unit",
    "name",
    "path",
    "detected_at",
    "source",
    "action",
    "first_sweep_id",
)
_DETECTION_COLUMNS = (
    DetectionRow.host,
    DetectionRow.unit,
    DetectionRow.name,
    DetectionRow.path,
    DetectionRow.detected_at,
    DetectionRow.source,
    DetectionRow.action,
    DetectionRow.first_sweep_id,
)
