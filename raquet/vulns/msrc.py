"""Microsoft's monthly security update documents, CVRF in JSON (api.msrc.microsoft.com,
`/cvrf/v3.0/cvrf/2024-Apr` with `Accept: application/json`).

The document names its products once, in `ProductTree.FullProductName[{ProductID,
Value}]` (also nested under `ProductTree.Branch[].Items[]`), and each
`Vulnerability[{CVE, Threats, Remediations, CVSSScoreSets}]` refers to them by id. Kept
per CVE and product: each `Remediations[]` entry of type 2 (Vendor Fix; `"Vendor Fix"` /
`"VendorFix"` in other renderings) that has a `FixedBuild` (`10.0.22631.3447`) becomes, for
each of its ProductIDs, the product's name (space `windows`, whatever the product: Windows,
Office, .NET), the build that fixes it and the KB (`Description.Value`, `5036893`). A host
is vulnerable below the build; when several fixes of one CVE name the same product
(Monthly Rollup and Security Only), the lowest build fixes it. Severity: the product's
`Threats[]` entry of type 3 (`Critical`, `Important`); CVSS: its `CVSSScoreSets[]` BaseScore.
Remediations without a FixedBuild (Release Notes links, workarounds, older documents) are
ignored: there is nothing to compare a host's build with.

Read in two streamed passes (the product tree, then the vulnerabilities), so the order of
the document's sections does not matter and memory holds one vulnerability at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raquet.errors import Problem
from raquet.vulns.model import Affected, Range, Vulnerability, record_day
from raquet.vulns.source import items, mapping, open_json, stream, text
from raquet.vulns.versions import version_key

Item = Vulnerability | Problem
_CVE = re.compile(r"(?:CVE|ADV)-?\d{4}-?\d{4,}")
_KB = re.compile(r"(?:KB)?(\d{6,8})", re.IGNORECASE)
_VENDOR_FIX = (2, "2", "Vendor Fix", "VendorFix")
_SEVERITY = (3, "3", "Severity")


def product_key(name: str) -> str:
    """How MSRC product names are compared: case and runs of spaces do not matter."""
    return " ".join(name.split()).casefold()


def read_msrc(path: Path, *, dataset: str | None = None) -> Iterator[Item]:
    """Every CVE of a CVRF JSON document with a fixed build, and problems."""
    name = dataset or path.name
    file = str(path)
    products: dict[str, str] = {}
    try:
        for prefix, pointer in (
            ("ProductTree.FullProductName.item", "/ProductTree/FullProductName"),
            ("ProductTree.Branch.item", "/ProductTree/Branch"),
        ):
            with open_json(path) as handle:
                for found in stream(handle, prefix, file, pointer):
                    if isinstance(found, Problem):  # the JSON broke off: nothing more to read
                        yield found
                        return
                    yield from _products(found[1], found[0], file, products)
        with open_json(path) as handle:
            for found in stream(handle, "Vulnerability.item", file, "/Vulnerability"):
                if isinstance(found, Problem):
                    yield found
                    continue
                pointer, entry = found
                yield from parse_vulnerability(
                    entry, products, file=file, pointer=pointer, dataset=name
                )
    except OSError as err:
        yield Problem(file, None, "", f"cannot read: {err.strerror or err}")


def _products(entry: Any, pointer: str, file: str, products: dict[str, str]) -> Iterator[Problem]:
    """A FullProductName entry, or a Branch whose `Items` (and their `Items`) name products."""
    pending = [(entry, pointer)]
    while pending:
        node, where = pending.pop()
        node = mapping(node)
        if "Items" in node:
            pending.extend(
                (item, f"{where}/Items/{i}") for i, item in enumerate(items(node["Items"]))
            )
            continue
        ident, value = _product_id(node.get("ProductID")), text(node.get("Value"))
        if ident is None or value is None:
            yield Problem(file, None, where, "a product needs a ProductID and a Value (its name)")
            continue
        products.setdefault(ident, value)


def _product_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    found = text(value)
    return found if found is not None and len(found) <= 40 else None


def parse_vulnerability(
    entry: Any, products: dict[str, str], *, file: str, pointer: str, dataset: str
) -> Iterator[Item]:
    """One `Vulnerability[]` entry -> a `Vulnerability` with a fixed build per product."""
    if not isinstance(entry, dict):
        yield Problem(file, None, pointer, "a vulnerability is a JSON object")
        return
    ident = text(entry.get("CVE"))
    if ident is None or _CVE.fullmatch(ident) is None:
        yield Problem(file, None, f"{pointer}/CVE", "not a CVE id")
        return
    severities = _per_product(entry.get("Threats"), _threat)
    scores = _per_product(entry.get("CVSSScoreSets"), _score)
    fixes: dict[str, tuple[tuple[int, ...], str, str | None]] = {}
    for r, remediation in enumerate(items(entry.get("Remediations"))):
        where = f"{pointer}/Remediations/{r}"
        remediation = mapping(remediation)
        if remediation.get("Type") not in _VENDOR_FIX:
            continue
        build = text(remediation.get("FixedBuild"))
        if build is None:
            continue
        try:
            key = version_key("windows", build)
        except ValueError:
            yield Problem(
                file, None, f"{where}/FixedBuild", f"{build[:40]!r} is not a build number"
            )
            continue
        kb_text = text(mapping(remediation.get("Description")).get("Value")) or ""
        kb_found = _KB.fullmatch(kb_text)
        kb = f"KB{kb_found[1]}" if kb_found else None
        for p, product in enumerate(items(remediation.get("ProductID"))):
            ident_p = _product_id(product)
            if ident_p is None or ident_p not in products:
                yield Problem(
                    file, None, f"{where}/ProductID/{p}", "not a product of the ProductTree"
                )
                continue
            known = fixes.get(ident_p)
            if known is None or key < known[0]:
                fixes[ident_p] = (key, build, kb)
    if not fixes:
        return
    affected = []
    worst: tuple[int, str] | None = None
    best_score: float | None = None
    for product, (_, build, kb) in fixes.items():
        affected.append(
            Affected(
                space="windows",
                package=products[product],
                scheme="windows",
                ranges=(Range(end=build),),
                fixed=build,
                kb=kb,
            )
        )
        word = severities.get(product)
        if word is not None:
            rank = _RANK.get(word.casefold(), 0)
            if worst is None or rank > worst[0]:
                worst = (rank, word)
        score = scores.get(product)
        if score is not None and (best_score is None or score > best_score):
            best_score = score
    yield Vulnerability(
        id=ident,
        cves=(ident,) if ident.startswith("CVE-") else (),
        severity=worst[1] if worst else None,
        cvss=best_score,
        dataset=dataset,
        format="msrc",
        affected=tuple(affected),
        modified=max(
            (
                day
                for revision in items(entry.get("RevisionHistory"))
                if (day := record_day(mapping(revision).get("Date"))) is not None
            ),
            default=None,
        ),
    )


_RANK = {"low": 1, "moderate": 2, "important": 3, "critical": 4}


def _threat(entry: dict[str, Any]) -> str | None:
    if entry.get("Type") not in _SEVERITY:
        return None
    word = text(mapping(entry.get("Description")).get("Value"))
    return word if word is not None and len(word) <= 40 else None


def _score(entry: dict[str, Any]) -> float | None:
    score = entry.get("BaseScore")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 10:
        return None
    return float(score)


def _per_product(entries: Any, read: Any) -> dict[str, Any]:
    """{ProductID: what `read` finds in the entry naming it}, the first entry winning."""
    out: dict[str, Any] = {}
    for entry in items(entries):
        entry = mapping(entry)
        value = read(entry)
        if value is None:
            continue
        for product in items(entry.get("ProductID")):
            ident = _product_id(product)
            if ident is not None:
                out.setdefault(ident, value)
    return out
