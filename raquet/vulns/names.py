"""Installed programs' names -> CPE `vendor:product`, from `data/applications.yml`.

A Windows host lists "7-Zip 23.01 (x64)", "Mozilla Firefox (x64 vi)", "Cốc Cốc"; a Linux
host `chromium`, `firefox-esr`. Names are cleaned the same way on both sides (`clean`),
then looked up in a dict; the table's few globs are tried after. A name written as
`vendor:product` is taken as the CPE itself.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from raquet.yamlfile import load_model

TABLE = Path(__file__).with_name("data") / "applications.yml"
_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_VERSIONISH = re.compile(r"v?\d+(?:\.\d+)*(?:[a-z]\d*)?")
_CPE = re.compile(r"[a-z0-9_.\-+!~%]+:[a-z0-9_.\-+!~%]+")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpes: list[str] = Field(min_length=1)
    names: list[str] = []
    packages: list[str] = []


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applications: list[_Entry]


def clean(name: str) -> str:
    """A program's name as compared: NFC, casefolded, without parentheses' contents, what
    follows " - ", and words that are versions; spaces collapsed."""
    text = unicodedata.normalize("NFC", name).casefold()
    text = _PARENS.sub(" ", text).split(" - ")[0]
    words = [word for word in text.split() if not _VERSIONISH.fullmatch(word)]
    return " ".join(words)


class Names:
    """The table, ready for lookups."""

    def __init__(self, path: Path = TABLE) -> None:
        table = load_model(path, _Table)
        self._names: dict[str, list[str]] = {}
        self._globs: list[tuple[str, list[str]]] = []
        self._packages: dict[str, list[str]] = {}
        self._mapped: set[str] = set()
        for entry in table.applications:
            cpes = [cpe.strip().lower() for cpe in entry.cpes]
            self._mapped.update(cpes)
            for name in entry.names:
                key = clean(name) if "*" not in name else clean(name.replace("*", " ")) + "*"
                if not key.strip("*"):
                    continue
                if "*" in key:
                    self._globs.append((key, cpes))
                else:
                    self._names.setdefault(key, []).extend(cpes)
            for package in entry.packages:
                self._packages.setdefault(package.strip(), []).extend(cpes)

    def mapped(self) -> frozenset[str]:
        """Every vendor:product the table maps a program or a package to."""
        return frozenset(self._mapped)

    def cpes(self, name: str) -> list[tuple[str, bool]]:
        """(vendor:product, named by a Linux package) for a program's name; [] if unknown."""
        stripped = name.strip()
        if _CPE.fullmatch(stripped.lower()):
            return [(stripped.lower(), False)]
        if stripped in self._packages:
            return [(cpe, True) for cpe in self._packages[stripped]]
        key = clean(stripped)
        if not key:
            return []
        found = self._names.get(key)
        if found is None:
            found = next((cpes for glob, cpes in self._globs if fnmatch.fnmatchcase(key, glob)), [])
        return [(cpe, False) for cpe in found]


@cache
def default_names() -> Names:
    return Names()


@lru_cache(maxsize=4096)
def application_cpes(name: str) -> list[tuple[str, bool]]:
    """`Names.cpes` on the shipped table (cached: fleets repeat the same names)."""
    return default_names().cpes(name)
