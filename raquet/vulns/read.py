"""`read_vulns`: any supported data set file (or directory) -> records and problems, the
format told from the data when not given."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import ijson

from raquet.errors import Problem
from raquet.vulns.debian import read_debian_tracker
from raquet.vulns.index import VulnIndex
from raquet.vulns.model import Format, Vulnerability
from raquet.vulns.msrc import read_msrc
from raquet.vulns.names import default_names
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


@dataclass
class LeftOut:
    """Records a read leaves out on purpose (they are not malformed): NVD records whose
    every product is one no program or package raquet names maps to (`applications.yml`).
    NVD holds some 250,000 CVEs over tens of thousands of products, a few percent of them
    programs raquet can find on a host; the rest would only weigh on every sweep, which
    holds the whole index in memory."""

    unmapped: int = 0


def read_vulns(
    path: Path,
    fmt: FormatChoice = "auto",
    *,
    dataset: str | None = None,
    left_out: LeftOut | None = None,
) -> Iterator[Vulnerability | Problem]:
    """Every record of one data set file or directory, with a problem (file, JSON pointer)
    for each part skipped; streamed, so it can be indexed as it is read."""
    if fmt == "auto":
        found = detect(path)
        if isinstance(found, Problem):
            yield found
            return
        fmt = found
    items = _READERS[fmt](path, dataset=dataset)
    if fmt == "nvd":
        items = _mapped_only(items, default_names().mapped(), left_out or LeftOut())
    yield from items


def _mapped_only(
    items: Iterable[Vulnerability | Problem], mapped: frozenset[str], left_out: LeftOut
) -> Iterator[Vulnerability | Problem]:
    """Each record with only the products raquet can find on a host; none left: left out."""
    for item in items:
        if isinstance(item, Problem):
            yield item
            continue
        kept = tuple(a for a in item.affected if a.space != "cpe" or a.package.lower() in mapped)
        if not kept:
            left_out.unmapped += 1
        elif len(kept) == len(item.affected):
            yield item
        else:
            yield replace(item, affected=kept)


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
