"""Jinja2 environments: raquet's templates, each replaceable by a file of the same name.

`--templates DIR` puts DIR in front of the shipped `reports/templates/`, so a province
can reword the letter (`text.vi.j2`), restyle the page (`style.css.j2`) or replace the
whole HTML layout while every other template keeps working. Undefined names are errors:
a typo in a template must not silently print an empty figure in an official letter.

What templates get: `report` (reports.model.Report), `doc` (reports.document.Document)
in the HTML and Markdown ones, `L` (the labels of the language), the filters `num`,
`pct`, `decimal`, `change`, `date`, `datetime`, `cell` (numbers and dates as the language writes
them), `bold` (prose) and `breakable` (HTML table cells), and the test `numeric`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from reports.change import Change
from reports.formatting import Formatter
from reports.labels import Labels
from reports.text import one_line

SHIPPED = Path(__file__).parent / "templates"
BOLD_ON, BOLD_OFF = "\x02", "\x03"  # stripped from all host data by reports.text.clean
LONG_WORD = 20
_LONG = re.compile(rf"(\S{{{LONG_WORD + 1},}})")
_SEPARATORS = frozenset("\\/._,;:=&?|-")
_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>|~&#!@]")
"""Emphasis, code, links and images, tags and autolinks, table cells, entities, headings,
strikethrough, and `@` (e-mail autolinks, mentions): escaped wherever they are."""
_MD_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=\bwww)\.|(?<=\bmailto):|(?<=\bxmpp):")
"""What GFM's extended autolinks start from (`scheme://`, `www.`, `mailto:`, `xmpp:`): the
colon or dot is escaped, which CommonMark shows as itself and which no autolink matches."""
_MD_ORDERED = re.compile(r"\d{1,9}(?=[.)](?: |$))")


def bold(value: object) -> str:
    """Mark text bold in prose templates; renderers turn the marks into their own bold."""
    return BOLD_ON + str(value).replace(BOLD_ON, "").replace(BOLD_OFF, "") + BOLD_OFF


def markdown_escape(value: object) -> object:
    """Every `{{ }}` of a Markdown template: a value from a host or an inventory stays text
    on its line; it cannot open a link, an image, a tag, an autolink, a table cell, a list,
    a heading or a code block, nor start another line."""
    if isinstance(value, Markup):
        return value
    text = re.sub(r"\s+", " ", str(value))
    text = _MD_SPECIAL.sub(r"\\\g<0>", text)
    return _line_start_escaped(_MD_AUTOLINK.sub(lambda match: "\\" + match[0], text))


def _line_start_escaped(text: str) -> str:
    """A backslash before what would open a list, a rule or a setext heading if `text`
    began a line (its blanks are already single spaces): `- `, `+ `, `1. `, `---`, `==`."""
    body = text.lstrip(" ")
    lead = text[: len(text) - len(body)]
    if body[:1] in ("-", "+") and body[1:2] in ("", " "):
        return f"{lead}\\{body}"
    if body and set(body) <= set("-= "):
        return f"{lead}\\{body}"
    ordered = _MD_ORDERED.match(body)
    if ordered:
        return f"{lead}{body[: ordered.end()]}\\{body[ordered.end() :]}"
    return text


def html_value(value: object) -> object:
    """Every `{{ }}` of an HTML template: on one line (a line separator is a forced break in
    browsers and in WeasyPrint), then autoescaped; markup the templates build is kept."""
    return value if isinstance(value, Markup) else one_line(str(value))


def _pieces(word: str) -> list[str]:
    """A long word cut after each separator, or after LONG_WORD characters without one."""
    pieces, start = [], 0
    for index, char in enumerate(word, 1):
        if char in _SEPARATORS or index - start >= LONG_WORD:
            pieces.append(word[start:index])
            start = index
    return [*pieces, word[start:]] if start < len(word) else pieces


def breakable(value: object) -> Markup:
    """Escaped text whose long words (paths, hashes, hostile names) may wrap in a table cell.

    `<wbr>` marks where. Copying the text copies no extra character, unlike a zero-width
    space; and the CSS alternative, `overflow-wrap: anywhere`, makes WeasyPrint's table
    layout ten times slower.
    """
    parts = _LONG.split(one_line(str(value)))
    return Markup("").join(
        Markup("<wbr>").join(map(escape, _pieces(part))) if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )


def environment(
    user_dir: Path | None,
    fmt: Formatter,
    labels: Labels,
    *,
    finalize: Callable[[Any], Any] = html_value,
) -> Environment:
    """HTML templates (`*.html.j2`) autoescape; `finalize` treats every `{{ }}` first: one
    line for HTML, Markdown escaping (`markdown_escape`), or holding values back until a
    prose template's structure is split (`reports.prose`)."""
    search = [FileSystemLoader(user_dir)] if user_dir else []
    env = Environment(
        loader=ChoiceLoader([*search, FileSystemLoader(SHIPPED)]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",)),
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Any] = {
        "num": fmt.number,
        "pct": fmt.percent,
        "decimal": fmt.decimal,
        "change": fmt.change,
        "date": fmt.day,
        "datetime": fmt.moment,
        "bold": bold,
        "cell": fmt.cell,
        "breakable": breakable,
    }
    env.filters.update(filters)
    env.tests["numeric"] = lambda value: isinstance(value, int | Change)
    env.globals["L"] = labels
    return env
