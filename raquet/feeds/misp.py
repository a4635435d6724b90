"""MISP event JSON: an event's network attributes, loose or inside objects.

Accepts an event export (`{"Event": …}`), a list of them, and the REST API's
`{"response": [{"Event": …}]}`. Attributes MISP marks as not for detection
(`to_ids: false`, context such as a legitimate domain abused) and deleted ones are
counted as ignored, as are types other than the network ones below. The event's `info`
is each indicator's reference. An attribute's `last_seen` falls back to its `timestamp`
(when it was last changed), the best date an older MISP gives.
"""

from __future__ import annotations

from typing import Any

from raquet.errors import InputError, Problem
from raquet.feeds.collect import Collector
from raquet.feeds.limits import MAX_ENTRIES
from raquet.feeds.values import Expect

# Each type's `|`-separated parts and what each must be; None marks a part that is not an
# indicator (a port).
_TYPES: dict[str, tuple[Expect | None, ...]] = {
    "ip-dst": ("address",),
    "ip-src": ("address",),
    "ip-dst|port": ("address", None),
    "ip-src|port": ("address", None),
    "domain": ("domain",),
    "hostname": ("domain",),
    "domain|ip": ("domain", "address"),
    "hostname|port": ("domain", None),
    "url": ("url",),
}
_FALSE = (False, 0, "0", "false")


def is_misp(data: Any) -> bool:
    return bool(_events(data))


def parse_misp(data: Any, out: Collector) -> None:
    events = _events(data)
    if not events:
        problem = Problem(out.file, None, "Event", "not a MISP event export (no Event)")
        raise InputError([problem])
    read = 0
    for where, event in events:
        reference = event.get("info") if isinstance(event.get("info"), str) else None
        attributes = _attributes(where, event)
        read += len(attributes)
        if read > MAX_ENTRIES:
            message = f"more than {MAX_ENTRIES:,} attributes: split the export"
            raise InputError([*out.problems, Problem(out.file, None, where, message)])
        for path, attribute, comment in attributes:
            _attribute(attribute, path, reference, comment, out)


def _events(data: Any) -> list[tuple[str, dict[str, Any]]]:
    """(JSON path, event) for each event in any of the shapes MISP exports."""
    if isinstance(data, dict) and isinstance(data.get("Event"), dict):
        return [("Event", data["Event"])]
    if isinstance(data, dict) and isinstance(data.get("response"), list):
        items, prefix = data["response"], "response"
    elif isinstance(data, list):
        items, prefix = data, ""
    else:
        return []
    return [
        (f"{prefix}[{index}].Event", item["Event"])
        for index, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get("Event"), dict)
    ]


def _attributes(where: str, event: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    """(JSON path, attribute, object comment) for loose attributes and objects' ones."""
    found: list[tuple[str, dict[str, Any], str | None]] = [
        (f"{where}.Attribute[{i}]", a, None) for i, a in enumerate(_list(event, "Attribute"))
    ]
    for o, obj in enumerate(_list(event, "Object")):
        if isinstance(obj, dict) and not obj.get("deleted"):
            comment = obj.get("comment") if isinstance(obj.get("comment"), str) else None
            found += [
                (f"{where}.Object[{o}].Attribute[{i}]", a, comment)
                for i, a in enumerate(_list(obj, "Attribute"))
            ]
    return found


def _attribute(
    attribute: Any, where: str, reference: str | None, comment: str | None, out: Collector
) -> None:
    if not isinstance(attribute, dict):
        out.problem(None, where, "expected an attribute object")
        return
    parts = _TYPES.get(str(attribute.get("type")))
    if parts is None or attribute.get("deleted") or attribute.get("to_ids", True) in _FALSE:
        out.ignore()
        return
    value = attribute.get("value")
    pieces = value.split("|") if isinstance(value, str) else []
    if len(pieces) != len(parts):
        expected = f"{len(parts)} values separated by '|'" if len(parts) > 1 else "a text value"
        out.problem(None, f"{where}.value", f"type {attribute['type']} needs {expected}")
        return
    last_seen = "last_seen" if attribute.get("last_seen") else "timestamp"
    dates = out.dates(
        None,
        first_seen=(f"{where}.first_seen", attribute.get("first_seen")),
        last_seen=(f"{where}.{last_seen}", attribute.get(last_seen)),
    )
    if dates is None:
        return
    note = attribute.get("comment") if isinstance(attribute.get("comment"), str) else None
    for piece, expect in zip(pieces, parts, strict=True):
        if expect is not None:
            out.add(
                piece,
                line=None,
                field=f"{where}.value",
                expect=expect,
                reference=reference,
                comment=note or comment,
                dates=dates,
            )


def _list(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    return value if isinstance(value, list) else []
