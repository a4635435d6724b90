"""PowerShell's CLIXML error stream turned back into the text a person would have seen.

`powershell.exe -EncodedCommand` with a redirected stderr writes its error, warning and
progress records as CLIXML (`#< CLIXML` then `<Objs>` documents), escaping characters
as `_xHHHH_`. Left as is, a failed gather reports kilobytes of XML; pywinrm's own
cleaner only runs inside `Session.run_ps`, which raquet does not use.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

HEADER = "#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_OBJS = re.compile(r"<Objs\b.*?(?:</Objs>|\Z)", re.DOTALL)  # a cut stream has no end tag
_STRING = re.compile(r'<S S="(?P<stream>[^"]*)">(?P<text>.*?)</S>', re.DOTALL)
_SHOWN = ("error", "warning")


def unescape(text: str) -> str:
    """`_x000D__x000A_` -> CRLF; surrogate pairs (`_xD83D__xDE00_`) are joined into one character."""
    units = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return units.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def decode(stderr: str) -> str:
    """Readable text from a stderr that may hold CLIXML; any other text is returned unchanged."""
    if HEADER not in stderr:
        return stderr
    before, _, rest = stderr.partition(HEADER)
    lines = [before.strip()] if before.strip() else []
    for document in _OBJS.findall(rest):
        lines.extend(_records(document))
    text = "".join(lines)
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def _records(document: str) -> list[str]:
    """Error and warning strings of one `<Objs>` document, warnings labelled as such."""
    try:
        root = ET.fromstring(document)
        found = [
            (el.get("S", ""), el.text or "") for el in root if el.tag.rsplit("}", 1)[-1] == "S"
        ]
    except ET.ParseError:  # a truncated stream: read what can be read
        found = [(m["stream"], _xml_text(m["text"])) for m in _STRING.finditer(document)]
    return [
        unescape(text) if stream.lower() == "error" else f"warning: {unescape(text)}\n"
        for stream, text in found
        if stream.lower() in _SHOWN
    ]


def _xml_text(raw: str) -> str:
    return (
        raw.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )
