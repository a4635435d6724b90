"""The letter's words (trích yếu, Kính gửi, body, Nơi nhận, signature, notes) from a template.

`text.<lang>.j2` renders plain text in sections, so one wording serves HTML, PDF, DOCX
and Markdown alike, and a province rewords its letter without touching code:

    [subject]     one line, the "V/v …"
    [recipients]  one recipient per line (Kính gửi)
    [body]        paragraphs separated by blank lines
    [cc]          one line per entry (Nơi nhận)
    [signature]   authority, title, then the signer's name, one per line
    [notes]       paragraphs: how the figures were counted

In paragraphs, text passed through the `bold` filter is bold.
"""

from __future__ import annotations

import re

from jinja2 import Environment
from pydantic import BaseModel, Field

from reports.model import Report
from reports.templating import BOLD_OFF, BOLD_ON

_SECTION = re.compile(r"^\[(\w+)\]\s*$")
_BOLD = re.compile(f"{BOLD_ON}(.*?){BOLD_OFF}", re.DOTALL)


class Run(BaseModel):
    text: str
    bold: bool = False


class Paragraph(BaseModel):
    runs: list[Run]

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


class Prose(BaseModel):
    subject: str = ""
    recipients: list[str] = Field(default_factory=list)
    body: list[Paragraph] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    signature: list[str] = Field(default_factory=list)
    notes: list[Paragraph] = Field(default_factory=list)


def _paragraph(text: str) -> Paragraph:
    runs, position = [], 0
    for match in _BOLD.finditer(text):
        if match.start() > position:
            runs.append(Run(text=text[position : match.start()]))
        runs.append(Run(text=match[1], bold=True))
        position = match.end()
    if position < len(text):
        runs.append(Run(text=text[position:]))
    return Paragraph(runs=runs)


def _paragraphs(lines: list[str]) -> list[Paragraph]:
    blocks = "\n".join(lines).split("\n\n")
    joined = (" ".join(line.strip() for line in block.splitlines()) for block in blocks)
    return [_paragraph(text) for text in joined if text.strip()]


def prose(env: Environment, report: Report) -> Prose:
    """Renders `text.<lang>.j2` for `report` and splits it into its sections."""
    text = env.get_template(f"text.{report.lang}.j2").render(report=report)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match[1], [])
        elif current is not None:
            current.append(line)
    entries = {k: [line.strip() for line in v if line.strip()] for k, v in sections.items()}
    return Prose(
        subject=" ".join(entries.get("subject", [])),
        recipients=entries.get("recipients", []),
        body=_paragraphs(sections.get("body", [])),
        cc=entries.get("cc", []),
        signature=entries.get("signature", []),
        notes=_paragraphs(sections.get("notes", [])),
    )
