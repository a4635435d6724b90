"""`read_vulns`: any supported data set file (or directory) -> records and problems, the
format told from the data when not given."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import ijson

from raquet.errors import Problem
from raquet.vulns.debian import read_debian_tracker
from raquet.vulns.index import VulnIndex
from raquet.vulns.model import Format, Vulnerability
from raquet.vulns.msrc import read_msrc
from raquet.vulns.nvd import read_nvd
from raquet.vulns.osv import read_osv
from raquet.vulns.source import TooLarge, is_zip, open_json, sniff

FormatChoice = Literal["auto", "osv", "debian", "nvd", "msrc"]
_NVD_KEYS = {
    "resultsPerPage",
    "startIndex",
    "totalResults",
    "format",
    "version",
    "timestamp",
    "vulnerabilities",
}
_MSRC_KEYS = {
    "@odata.context",
    "DocumentTitle",
    "DocumentType",
    "DocumentPublisher",
    "DocumentTracking",
    "DocumentNotes",
    "ProductTree",
    "Vulnerability",
}
_OSV_KEYS = {
    "schema_version",
    "id",
    "modified",
    "published",
    "withdrawn",
    "aliases",
    "upstream",
    "related",
    "summary",
    "details",
    "severity",
    "affected",
    "references",
    "credits",
    "database_specific",
}


def detect(path: Path) -> Format | Problem:
    """The format of a data set: a directory or zip of JSON files is OSV; a JSON document
    by its first key (NVD's `resultsPerPage`…, MSRC's `DocumentTitle`…, an OSV record's
    `id`…); any other object of objects is the Debian tracker's (keyed by package)."""
    if path.is_dir() or is_zip(sniff(path)):
        return "osv"
    try:
        with open_json(path) as handle:
            for prefix, event, value in ijson.parse(handle):
                if prefix == "" and event == "start_map":
                    continue
                if prefix == "" and event == "start_array":
                    return "osv"
                if prefix == "" and event == "map_key":
                    if value in _NVD_KEYS:
                        return "nvd"
                    if value in _MSRC_KEYS:
                        return "msrc"
                    if value in _OSV_KEYS:
                        return "osv"
                    return "debian"
                if prefix == "":
                    break
    except OSError as err:
        return Problem(str(path), None, "", f"cannot read: {err.strerror or err}")
    except (ijson.JSONError, ValueError, TooLarge, EOFError) as err:
        return Problem(str(path), None, "", f"not a JSON data set: {str(err)[:200]}")
    return Problem(
        str(path),
        None,
        "",
        "not a vulnerability data set (OSV, Debian tracker, NVD 2.0, MSRC CVRF)",
    )


_READERS = {"osv": read_osv, "debian": read_debian_tracker, "nvd": read_nvd, "msrc": read_msrc}


def read_vulns(
    path: Path, fmt: FormatChoice = "auto", *, dataset: str | None = None
) -> Iterator[Vulnerability | Problem]:
    """Every record of one data set file or directory, with a problem (file, JSON pointer)
    for each part skipped; streamed, so it can be indexed as it is read."""
    if fmt == "auto":
        found = detect(path)
        if isinstance(found, Problem):
            yield found
            return
        fmt = found
    yield from _READERS[fmt](path, dataset=dataset)


def load_index(
    paths: Iterable[Path | tuple[Path, FormatChoice]], index: VulnIndex | None = None
) -> tuple[VulnIndex, list[Problem]]:
    """An index of every given data set (each as `path` or `(path, format)`), and the
    problems met; the data set name of each record is its file's name."""
    index = index if index is not None else VulnIndex()
    problems: list[Problem] = []
    for entry in paths:
        path, fmt = entry if isinstance(entry, tuple) else (entry, "auto")
        problems += index.extend(read_vulns(path, fmt))
    return index, problems
