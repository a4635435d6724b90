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

Only the template's own text makes that structure. Every `{{ }}` value (a unit's name, the
province, a figure) is held back as a placeholder while the text is split into sections,
lines and paragraphs, and put in afterwards on one line: a name holding "\\n\\n[signature]"
once signed the letter with a forged name. A macro's output, which holds placeholders of
its own, is the template's text and keeps its lines.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from pydantic import BaseModel, Field

from raquet.errors import Problem
from reports.formatting import Formatter
from reports.labels import Labels
from reports.model import Report
from reports.settings import Wording
from reports.templating import BOLD_OFF, BOLD_ON, environment
from reports.text import one_line

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


class _Held:
    """The values of one rendering, each replaced by a placeholder no value can contain (it
    holds a random nonce) and that holds nothing the splitting looks at."""

    def __init__(self) -> None:
        self.values: list[str] = []
        nonce = secrets.token_hex(8)
        self._mark = f"\x1a{nonce}:"
        self._placeholder = re.compile(f"\x1a{nonce}:(\\d+)\x1a")

    def hold(self, value: object) -> str:
        """Jinja's `finalize`: every `{{ }}` output becomes a placeholder."""
        text = str(value)
        if self._mark in text:  # a macro's output: template text with placeholders inside
            return text
        self.values.append(one_line(text))
        return f"{self._mark}{len(self.values) - 1}\x1a"

    def restore(self, text: str) -> str:
        """`text` with every placeholder replaced by its value (no value holds one)."""
        return self._placeholder.sub(lambda match: self.values[int(match[1])], text)


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


def _paragraphs(lines: list[str], held: _Held) -> list[Paragraph]:
    blocks = "\n".join(lines).split("\n\n")
    joined = (
        held.restore(" ".join(line.strip() for line in block.splitlines())) for block in blocks
    )
    return [_paragraph(text) for text in joined if text.strip()]


def _entries(lines: list[str], held: _Held) -> list[str]:
    restored = (held.restore(line).strip() for line in lines)
    return [line for line in restored if line]


class IncompleteLetter(Exception):
    """A prose template (a partial `--templates` override, most likely) that leaves the
    letter without a part it cannot go out without: an error, not a blank letter."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


REQUIRED = ("subject", "recipients", "body")


def prose(
    templates: Path | None, fmt: Formatter, labels: Labels, report: Report, settings: Wording
) -> Prose:
    """Renders `text.<lang>.j2` for `report` and splits it into its sections; raises
    IncompleteLetter when the subject, the recipients or the body come out empty."""
    held = _Held()
    env = environment(templates, fmt, labels, finalize=held.hold)
    template = env.get_template(f"text.{report.lang}.j2")
    text = template.render(report=report, settings=settings)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match[1], [])
        elif current is not None:
            current.append(line)
    result = Prose(
        subject=" ".join(_entries(sections.get("subject", []), held)),
        recipients=_entries(sections.get("recipients", []), held),
        body=_paragraphs(sections.get("body", []), held),
        cc=_entries(sections.get("cc", []), held),
        signature=_entries(sections.get("signature", []), held),
        notes=_paragraphs(sections.get("notes", []), held),
    )
    missing = [part for part in REQUIRED if not getattr(result, part)]
    if missing:
        where = template.filename or template.name or f"text.{report.lang}.j2"
        message = f"the letter has no {', '.join(missing)}: each needs a [section] with text"
        raise IncompleteLetter(Problem(where, None, "", message))
    return result
