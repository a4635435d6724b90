"""The sweep store (SPEC §7): each host's result is committed the moment it exists.

SQLite by default (one file; WAL, so a report can read while a sweep writes), PostgreSQL
by URL when several jump hosts share one history. The schema is versioned by Alembic
(migrations/): an embedded SQLite store is upgraded on opening, after a backup;
PostgreSQL only by `raquet db upgrade`.

What reaches the database partly came from hosts and is untrusted. It is kept as data
(evidence as JSON, never interpreted); only what a database cannot hold is changed.

One module per concern, each a mixin of `Store` over the shared connection (base.py):
sweeps (writing a sweep), history (reading it back), feeds, vulns (offline vulnerability
data), detections (and pending updates), reads (what reports ask).
"""

from raquet.store.clean import as_utc, clean_json, clean_text
from raquet.store.engine import default_db_path, resolve_url
from raquet.store.errors import (
    FeedNotFound,
    NotFound,
    StoreError,
    SweepNotFound,
    VulnDatasetNotFound,
)
from raquet.store.feeds import Feeds
from raquet.store.history import History
from raquet.store.reads import ReportReads
from raquet.store.schema import Base
from raquet.store.sweeps import Sweeps
from raquet.store.views import (
    FeedInfo,
    HostDigest,
    PruneResult,
    StoredDetection,
    SweepInfo,
    VulnDatasetInfo,
)
from raquet.store.vulns import NoRecords, VulnImport, Vulns


class Store(Sweeps, History, Feeds, Vulns, ReportReads):
    """Sweeps and their host results in SQLite or PostgreSQL; one transaction per call."""


__all__ = [
    "Base",
    "FeedInfo",
    "FeedNotFound",
    "HostDigest",
    "NoRecords",
    "NotFound",
    "PruneResult",
    "Store",
    "StoreError",
    "StoredDetection",
    "SweepInfo",
    "SweepNotFound",
    "VulnDatasetInfo",
    "VulnDatasetNotFound",
    "VulnImport",
    "as_utc",
    "clean_json",
    "clean_text",
    "default_db_path",
    "resolve_url",
]
