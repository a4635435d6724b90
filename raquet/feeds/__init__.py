"""Indicator feeds (SPEC §2): malicious IPs, CIDRs, domains and URLs from the lists
provinces receive, read from text, CSV, STIX 2.1, MISP or XLSX files, and matched
against what sweeps find on hosts.

`parse_feed` reads a file; `Store.import_feed` keeps its indicators; `Store.indicator_set`
gives the `IndicatorSet` the connection checks match with.
"""

from raquet.feeds.index import Hit, IndicatorSet, MatchKind
from raquet.feeds.model import FeedFormat, Indicator, ParsedFeed
from raquet.feeds.parse import FormatChoice, parse_feed
from raquet.feeds.values import Kind

__all__ = [
    "FeedFormat",
    "FormatChoice",
    "Hit",
    "Indicator",
    "IndicatorSet",
    "Kind",
    "MatchKind",
    "ParsedFeed",
    "parse_feed",
]
