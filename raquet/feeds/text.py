"""Plain indicator lists: one value a line, `#` comments on their own line or after a value."""

from __future__ import annotations

import re

from raquet.feeds.collect import Collector

# A `#` starts a comment at the start of a line or after a blank, so a URL's #fragment stays.
_COMMENT = re.compile(r"(?:^|\s)#(.*)$")


def parse_text(text: str, out: Collector) -> None:
    for number, line in enumerate(text.split("\n"), 1):
        comment = _COMMENT.search(line)
        value = line[: comment.start()] if comment else line
        if value.strip():
            out.add(value, line=number, field="", comment=comment[1] if comment else None)
