"""CVSS v3.0/v3.1 base scores computed from their vectors, and the qualitative rating.

OSV records carry severity as a vector (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`)
and no number; the score follows the specification's formula (FIRST, CVSS v3.1 §7.1, with
its Roundup). v2 and v4 vectors are not scored here: a record with only those keeps the
data set's own rating, or none.
"""

from __future__ import annotations

import math

_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PRIVILEGES = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def _roundup(value: float) -> float:
    """The specification's Roundup: the smallest one-decimal number >= value, computed on
    integers so that 4.000000000000001 stays 4.0."""
    scaled = round(value * 100_000)
    return scaled / 100_000 if scaled % 10_000 == 0 else (math.floor(scaled / 10_000) + 1) / 10


def cvss3_score(vector: str) -> float | None:
    """The base score of a CVSS v3.x vector, or None when it is not one (any version
    prefix other than 3.0/3.1, a missing or unknown base metric)."""
    if not isinstance(vector, str) or len(vector) > 200:
        return None
    parts = vector.strip().split("/")
    if parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        return None
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        name, colon, value = part.partition(":")
        if not colon or name in metrics:
            return None
        metrics[name] = value
    if any(name not in metrics for name in _BASE):
        return None
    scope = metrics["S"]
    try:
        av, ac, ui = (_WEIGHTS[name][metrics[name]] for name in ("AV", "AC", "UI"))
        c, i, a = (_WEIGHTS[name][metrics[name]] for name in ("C", "I", "A"))
        pr = _PRIVILEGES[scope][metrics["PR"]]
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    changed = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    impact = 6.42 * iss if scope == "U" else changed
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    return _roundup(min(total, 10.0))


def rating(score: float | None) -> str | None:
    """CVSS v3's qualitative rating: NONE, LOW, MEDIUM, HIGH, CRITICAL."""
    if score is None:
        return None
    if score == 0:
        return "NONE"
    return "LOW" if score < 4 else "MEDIUM" if score < 7 else "HIGH" if score < 9 else "CRITICAL"
