"""What the store's reads return: plain pydantic records, no ORM objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from raquet.models import Finding


class SweepInfo(BaseModel):
    """One line of `raquet history`: a sweep and how its hosts (or the selected ones) fared."""

    id: str
    started_at: datetime
    finished_at: datetime | None
    inventory: str
    province: str
    checks: list[str]
    options: dict[str, Any]
    status: Literal["running", "finished"]
    planned: int = 0
    swept: int = 0
    unreachable: int = 0
    error: int = 0
    compliant: int = 0


class FeedInfo(BaseModel):
    """One line of `raquet feeds list`: an imported feed and what its import found."""

    name: str
    source: str
    format: str
    imported_at: datetime
    indicators: int
    problems: int


class VulnDatasetInfo(BaseModel):
    """One line of `raquet vulns list`: an imported vulnerability data set."""

    name: str
    source: str
    format: str
    imported_at: datetime
    records: int
    problems: int
    spaces: list[str]
    """What it covers: `debian:12`, `ubuntu:22.04`, `rocky:9`, `cpe` (applications), `windows`."""


class StoredDetection(BaseModel):
    """A detection as the reports read it: when, where, what, and the sweep that found it."""

    host: str
    unit: str
    name: str
    path: str
    detected_at: datetime
    source: str
    action: str | None
    first_sweep_id: str


class PruneResult(BaseModel):
    """What `Store.prune` removed: host results and findings of the sweeps before `before`;
    the sweeps themselves unless a detection or remediation still names them."""

    before: datetime
    sweeps: int = 0
    sweeps_deleted: int = 0
    host_results: int = 0
    findings: int = 0


class HostDigest(BaseModel):
    """One host of a sweep as the reports read it (`Store.sweep_digest`): `compliant` and
    `infections_pass` decided in SQL, `findings` only those the report asked for."""

    name: str
    unit: str
    status: str
    error: str | None
    started_at: datetime | None
    compliant: bool
    infections_pass: bool
    findings: list[Finding]
