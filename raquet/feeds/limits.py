"""How much of a feed raquet reads: every bound an honest feed stays far below.

Feeds come from outside (a letter's attachment, a download), so a file may be built to
exhaust the jump host: a workbook that inflates a thousandfold, JSON nested a hundred
thousand deep, a number of five thousand digits, a table of fifty million rows. Each bound
below turns such a file into a `Problem` naming where it was crossed, before the memory
or the time is spent; national lists of a million indicators (`bench/feeds_match.py`)
fit in all of them.
"""

from __future__ import annotations

MAX_BYTES = 128 << 20
"""Largest feed file read (a million-indicator CSV with references and dates is ~60 MiB)."""
MAX_ENTRIES = 2_000_000
"""Lines of a list or table, rows of a workbook, attributes of a MISP export or objects of a
STIX bundle: twice the largest national list."""
MAX_CELL = 32_767
"""Longest value, cell or line read as an entry: Excel's own limit for a cell."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of a JSON feed; MISP and STIX exports need about ten levels."""
MAX_DIGITS = 64
"""Longest number in a JSON feed (Python refuses to convert more than 4,300 digits)."""
MAX_PATTERN = 4096
"""Longest STIX pattern: a hundred alternatives of one indicator are about 1,200 characters."""
MAX_PATTERNS_TOTAL = 8 << 20
"""All the STIX patterns of a bundle together: the pattern grammar reads about 100 KiB a
second, so this is a minute or two at most."""
MAX_XLSX_UNCOMPRESSED = 256 << 20
"""What a workbook's parts may inflate to in all (a 100,000-row sheet is about 30 MiB)."""
MAX_XLSX_RATIO = 100
"""Largest compression ratio of a part over `XLSX_RATIO_FROM` bytes: spreadsheets compress
10-30 times, zip bombs a thousand."""
XLSX_RATIO_FROM = 1 << 20
MAX_XLSX_PARTS = 10_000
MAX_COLUMNS = 256
"""Columns of a sheet read; a feed table has a handful, and a sheet may claim 16,384."""
