"""`infections` remediation: quarantine the detected files, then scan where they were.

A detected file is moved, never deleted, into a root-only quarantine directory (the
policy's `infections.quarantine_dir`) as `<id>.bin`, readable by root alone, beside
`<id>.json`: original path, owner, group, mode, mtime, size, sha256, detection name and
the remediation's tag; the record's own mtime, by the host's clock, is when. The `infections` check reads those records, so a detection whose
file has been quarantined since counts as dealt with. Only regular files are moved (a
symlink planted at a detected path is left alone); a file no longer there needs nothing.

The scan that follows covers the directories the files were in, bounded by the policy's
`infections.scan_timeout`, logs to clamscan's usual log (where the check reads it) and
runs only when something was quarantined in this run.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import Directory, File, Sha256File
from pyinfra.facts.server import Which
from pyinfra.operations import files

from raquet.models import Finding
from raquet.powershell import quote
from remediations import values
from remediations.base import Remedy, RemedyContext, Step

CHECK = "infections"
SCAN_LOG = "/var/log/clamav/clamscan.log"


def entry_id(path: str, digest: str | None) -> str:
    """Stable per (path, content): quarantining the same file twice cannot collide or duplicate."""
    where = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{where}-{(digest or 'unknown')[:16]}"


@operation()
def quarantined(path: str, detection: str, directory: str, tag: str):
    info = host.get_fact(File, path=path)
    if not info:
        host.noop(f"{path} is gone or is not a regular file")
        return
    digest = host.get_fact(Sha256File, path=path)
    target = f"{directory.rstrip('/')}/{entry_id(path, digest)}"
    record = {
        "original_path": path,
        "owner": info["user"],
        "group": info["group"],
        "mode": f"{info['mode']:0>4}",
        "mtime": info["mtime"].replace(tzinfo=UTC).isoformat() if info["mtime"] else None,
        "size": info["size"],
        "sha256": digest,
        "detection": detection,
        "remediation": tag,
    }
    text = json.dumps(record, ensure_ascii=False, sort_keys=True)
    yield from files.directory._inner(path=directory, user="root", group="root", mode="700")
    yield StringCommand(
        "umask 077 &&", "printf", "'%s\\n'", QuoteString(text), ">", QuoteString(f"{target}.json")
    )
    yield StringCommand("mv", "-f", QuoteString(path), QuoteString(f"{target}.bin"))
    yield StringCommand("chown", "root:root", QuoteString(f"{target}.bin"))
    yield StringCommand("chmod", "0400", QuoteString(f"{target}.bin"))


@operation()
def scanned(directories: list[str], timeout: float):
    """`clamscan` of the directories, at most `timeout` seconds; finding anything fails it."""
    if not host.get_fact(Which, command="clamscan"):
        host.noop("clamscan is not installed (see the av remediation)")
        return
    present = [d for d in directories if host.get_fact(Directory, path=d)]
    if not present:
        host.noop("none of the directories exists any more")
        return
    yield StringCommand(
        "timeout",
        str(max(1, int(timeout))),
        "clamscan -r -i",
        QuoteString(f"--log={SCAN_LOG}"),
        "--",
        *(QuoteString(d) for d in present),
        _success_exit_codes=[0],
    )


@operation()
def windows_scanned(directories: list[str]):
    """Defender quarantines what it detects itself; a custom scan of each directory follows."""
    for directory in directories:
        yield StringCommand(f"Start-MpScan -ScanType CustomScan -ScanPath {quote(directory)}")


def _parent(path: str) -> str:
    parent = path.rsplit("/", 1)[0]
    return parent or "/"


def plan(finding: Finding, ctx: RemedyContext) -> Remedy:
    remedy = Remedy(CHECK, finding)
    detections = [d for d in finding.evidence.get("detections") or [] if isinstance(d, dict)]
    rules = ctx.policy.infections
    if ctx.host.os == "windows":
        folders = sorted(
            {str(d.get("path")).rsplit("\\", 1)[0] for d in detections if d.get("path")}
        )
        remedy.notes.append("Defender quarantines detected files itself")
        if folders:
            remedy.steps.append(
                Step("scan where the files were", windows_scanned, {"directories": folders})
            )
        return remedy
    paths: dict[str, str] = {}
    for detection in detections:
        try:
            path = values.absolute_path(str(detection.get("path")))
        except values.Refused as exc:
            remedy.notes.append(f"not quarantined: {exc}")
            continue
        paths.setdefault(path, str(detection.get("name") or "unknown"))
    for path, name in paths.items():
        remedy.steps.append(
            Step(
                f"quarantine {path}",
                quarantined,
                {
                    "path": path,
                    "detection": name,
                    "directory": rules.quarantine_dir,
                    "tag": ctx.tag,
                },
            )
        )
    if paths:
        remedy.steps.append(
            Step(
                "scan where the files were",
                scanned,
                {"directories": sorted({_parent(p) for p in paths}), "timeout": rules.scan_timeout},
                after_change=True,
            )
        )
    return remedy
