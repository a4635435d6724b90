"""Markdown from `report.md.j2`, in an environment that escapes every output for Markdown."""

from __future__ import annotations

from pathlib import Path

from reports.document import Document
from reports.templating import environment, markdown_escape


def render(doc: Document) -> str:
    env = environment(doc.templates, doc.fmt, doc.labels, finalize=markdown_escape)
    return env.get_template("report.md.j2").render(report=doc.report, doc=doc)


def write(doc: Document, output: Path) -> list[Path]:
    output.write_text(render(doc), encoding="utf-8")
    return [output]
