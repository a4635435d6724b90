"""Findings in the report's language: a title saying what is wrong, and a short statement
of what was found and what to do, for the unit whose staff must act on it.

The checks write their titles in English for the sweep's own output and keep what they
decided on as evidence. A report reads the finding's check, status and evidence keys
here and decides which sentence applies and with what values; the sentences themselves
are macros of `findings.<lang>.j2` (beside the letter's prose, overridable with
`--templates`), called with the values, so no English title, Python value or list repr
reaches a Vietnamese table. The full evidence stays in the model (JSON, XLSX) and in the
evidence appendix (`reports.evidence`).

Reasons the checks write as free text (why a check could not run, why an AV log line is
suspicious) are recognised by the patterns below; a reason raquet does not know yet gets
the general sentence of its kind, and the raw text stays in the appendix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from raquet.models import Finding
from reports.connections import rows_of_finding
from reports.formatting import Formatter
from reports.labels import Labels
from reports.templating import environment
from reports.text import one_line

SHOWN = 3  # packages, detections, connections named in one statement
DEFAULT_SIGNATURE_DAYS = 7.0

_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"exceeded the check's budget of (?P<mib>\d+) MiB"), "err_budget"),
    (re.compile(r"timed out"), "err_timeout"),
    (re.compile(r"^the check failed on the host"), "err_failed_on_host"),
    (re.compile(r"produced no result"), "err_no_result"),
    (re.compile(r"could not parse the host's output"), "err_parse"),
    (re.compile(r"no indicator feeds are imported"), "err_no_feeds"),
    (re.compile(r"`ss`.*not installed"), "err_no_ss"),
    (re.compile(r"no supported package manager"), "err_no_package_manager"),
    (re.compile(r"no package database"), "err_no_package_db"),
]
_SUSPICIOUS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"older record\(s\) were not read"), "sus_unread"),
    (re.compile(r"longer than"), "sus_too_long"),
    (re.compile(r"backdated"), "sus_backdated"),
    (re.compile(r"dated after the sweep"), "sus_future"),
    (re.compile(r"line break"), "sus_line_break"),
    (re.compile(r"FOUND line not in"), "sus_found_format"),
    (re.compile(r"summary counts"), "sus_summary_count"),
    (re.compile(r"summary|Start Date"), "sus_summary"),
    (re.compile(r"not when the journal received it"), "sus_journal_time"),
    (re.compile(r"timestamp|continues no record|does not write|did not finish"), "sus_not_av"),
]


_HOST_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"host key|known_hosts", re.I), "host_key"),
    (re.compile(r"authenticat|permission denied|password", re.I), "host_auth"),
    (re.compile(r"timed out|did not finish|timeout", re.I), "host_timeout"),
    (re.compile(r"refused", re.I), "host_refused"),
    (
        re.compile(r"no route|unreachable|name or service|getaddrinfo|resolve", re.I),
        "host_no_route",
    ),
    (re.compile(r"connection lost", re.I), "host_lost"),
    (re.compile(r"gather script failed", re.I), "host_script"),
    (re.compile(r"not stored", re.I), "host_not_stored"),
    (re.compile(r"connector", re.I), "host_connector"),
]


class Explained(dict[str, str]):
    """`title` and `detail` of one finding."""


def _seq(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _moment(value: object) -> datetime | date | None:
    """An ISO time of the evidence (aware), or a day when it names only a day."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.date()


def _first(pattern_table: list[tuple[re.Pattern[str], str]], text: str) -> re.Match[str] | None:
    return next((m for p, _ in pattern_table if (m := p.search(text))), None)


def _kind(pattern_table: list[tuple[re.Pattern[str], str]], text: str, default: str) -> str:
    return next((key for pattern, key in pattern_table if pattern.search(text)), default)


class Explainer:
    """Explains findings in one language with the macros of `findings.<lang>.j2`."""

    def __init__(self, templates: Path | None, fmt: Formatter, labels: Labels) -> None:
        env = environment(templates, fmt, labels, finalize=lambda value: one_line(str(value)))
        self._name = f"findings.{fmt.lang}.j2"
        self._words = env.get_template(self._name).module
        self.fmt = fmt

    def say(self, sentence: str, /, **values: Any) -> str:
        """The macro `sentence` called with `values`, on one line."""
        macro: Callable[..., object] | None = getattr(self._words, sentence, None)
        if macro is None:
            raise TemplateError(f"{self._name} has no macro {sentence!r}")
        return " ".join(str(macro(**values)).split())

    @staticmethod
    def _join(parts: list[str]) -> str:
        """Problems in one title, `;` between them."""
        return "; ".join(p for p in parts if p)

    @staticmethod
    def _sentences(parts: list[str]) -> str:
        return " ".join(p for p in parts if p)

    def explain(self, finding: Finding, signature_days: float | None = None) -> Explained:
        """The title and statement of a failed or errored finding."""
        ev = finding.evidence
        check = self.say("check_name", check=finding.check)
        if ev.get("tampered") is True:
            line = re.search(r"line (\d+)", str(ev.get("reason", "")))
            return self._done(
                self.say("tampered_title"),
                self.say("tampered_detail", check=check, line=int(line[1]) if line else None),
            )
        if finding.status == "error":
            return self._error(finding, check)
        explain = {
            "av": self._av,
            "patches": self._patches,
            "software": self._software,
            "connections": self._connections,
            "infections": self._infections,
            "vulns": self._vulns,
        }.get(finding.check)
        if explain is None:
            return self._done(self.say("generic_title", check=check), self.say("generic_detail"))
        return explain(ev, signature_days or DEFAULT_SIGNATURE_DAYS)

    def unswept(self, status: str, error: str) -> str:
        """Why a host was not swept, in the report's language (the raw error stays beside it)."""
        key = "host_pending" if status == "pending" else _kind(_HOST_ERRORS, error, "host_other")
        return self.say(key)

    def _done(self, title: str, detail: str) -> Explained:
        return Explained(title=title[:1].upper() + title[1:], detail=detail)

    def _error(self, finding: Finding, check: str) -> Explained:
        ev = finding.evidence
        reason = str(ev.get("reason") or "")
        if not reason and ev.get("pending_error"):  # Windows Update refused or failed
            denied = "0x80070005" in str(ev["pending_error"])
            key = "err_windows_update_denied" if denied else "err_windows_update"
        else:
            key = _kind(_ERRORS, reason, "err_other")
        found = _first(_ERRORS, reason)
        values = found.groupdict() if found else {}
        return self._done(
            self.say("error_title", check=check, reason=self.say(key, **values)),
            self.say(f"{key}_action"),
        )

    # --- av ---------------------------------------------------------------------------

    def _av(self, ev: dict[str, Any], limit: float) -> Explained:
        product = str(ev.get("product") or "")
        age = _number(ev.get("signature_age_days"))
        products = [p for p in _seq(ev.get("products")) if isinstance(p, dict)]
        enabled = [p for p in products if p.get("enabled")]
        defender = _map(ev.get("defender"))
        running = bool(ev.get("running"))
        values: dict[str, Any] = {"product": product, "age": age, "limit": limit}
        if not ev.get("installed"):
            key = "av_process_only" if running else "av_none"
        elif enabled and all(p.get("up_to_date") is False for p in enabled):
            key, values["product"] = "av_outdated", str(enabled[0].get("name") or "")
        elif products and not enabled and not running:
            key, values["product"] = "av_not_enabled", str(products[0].get("name") or "")
        elif running and ev.get("realtime") is False:
            key = "av_realtime_off"
        elif running and age is None:
            key = "av_no_signatures"
        elif running and age is not None and age > limit:
            key = "av_old"
        elif defender.get("passive"):
            key = "av_passive"
        elif defender.get("present"):
            key = "av_defender_off"
        elif not running:
            key = "av_stopped"
        else:
            key = "av_other"
        facts = self.say(
            "av_facts",
            product=product,
            running=running,
            realtime=ev.get("realtime"),
            signed_at=_moment(ev.get("signature_time")),
            source=str(ev.get("signature_source") or ""),
            managed=ev.get("managed"),
        )
        return self._done(
            self.say(key, **values), self._sentences([facts, self.say(f"{key}_action")])
        )

    # --- patches ----------------------------------------------------------------------

    def _patches(self, ev: dict[str, Any], _: float) -> Explained:
        waited = _number(ev.get("max_pending_days"))
        security = _number(ev.get("overdue_security" if waited else "pending_security")) or 0
        problems = []
        if security:
            problems.append(self.say("patches_security", count=int(security), days=waited))
        if ev.get("os_eol_reached"):
            problems.append(
                self.say(
                    "patches_eol",
                    os=str(ev.get("os") or ""),
                    day=_moment(ev.get("os_end_of_life")),
                )
            )
        if ev.get("reboot_required"):
            problems.append(self.say("patches_reboot"))
        pending = _number(ev.get("pending")) or 0
        if not problems and pending:
            problems.append(self.say("patches_regular", count=int(pending)))
        if not problems:
            problems.append(self.say("patches_other"))
        names = [str(n) for n in _seq(ev.get("security_packages"))]
        facts = self.say(
            "patches_facts",
            names=names[:SHOWN],
            more=max(len(names) - SHOWN, 0),
            last_installed=_moment(ev.get("last_installed_at")),
        )
        action = self.say(
            "patches_action", security=bool(security), eol=bool(ev.get("os_eol_reached"))
        )
        return self._done(self._join(problems), self._sentences([facts, action]))

    # --- vulns ------------------------------------------------------------------------

    def _vulns(self, ev: dict[str, Any], _: float) -> Explained:
        order = ["info", "low", "medium", "high", "critical"]
        fail_on = str(ev.get("fail_on") or "high")
        threshold = order.index(fail_on) if fail_on in order else order.index("high")
        failing = [
            e
            for e in _seq(ev.get("vulnerable"))
            if isinstance(e, dict)
            and e.get("severity") in order
            and order.index(str(e["severity"])) >= threshold
        ]
        if not failing:
            return self._done(self.say("vulns_other"), self.say("vulns_action", windows=False))
        count = int(_number(ev.get("failing_component_count")) or 0) or len(
            {str(e.get("component")) for e in failing}
        )
        worst = max((str(e["severity"]) for e in failing), key=order.index)
        cves = list(dict.fromkeys(str(e.get("cve") or "") for e in failing))
        fixes: dict[str, tuple[str, str]] = {}
        for entry in [*_seq(ev.get("upgrades")), *failing]:  # the check's upgrades first
            component = str(_map(entry).get("component") or "")
            if component and component not in fixes and _map(entry).get("fixed"):
                fixes[component] = (str(entry["fixed"]), str(entry.get("kb") or ""))
        shown = [
            self.say("vulns_fix", component=component, fixed=fixed, kb=kb)
            for component, (fixed, kb) in list(fixes.items())[:SHOWN]
        ]
        unfixed = [
            c
            for c in dict.fromkeys(str(e.get("component") or "") for e in failing)
            if c not in fixes
        ]
        title = self.say(
            "vulns_found",
            count=count,
            severity=worst,
            cves=cves[:SHOWN],
            more=max(len(cves) - SHOWN, 0),
        )
        facts = self.say(
            "vulns_facts",
            fixes=shown,
            more=max(len(fixes) - len(shown), 0),
            unfixed=unfixed[:SHOWN],
            datasets=[str(d) for d in _seq(ev.get("datasets"))][:SHOWN],
        )
        parts = [facts]
        if ev.get("not_covered"):
            parts.append(self.say("vulns_not_covered", os=str(ev.get("os") or "")))
        stale = [_map(s) for s in _seq(ev.get("stale_data"))][:SHOWN]
        if stale:
            named = [(str(s.get("name") or ""), _number(s.get("age_days"))) for s in stale]
            limit = _number(ev.get("max_data_age_days")) or 30
            parts.append(self.say("vulns_stale", datasets=named, limit=limit))
        windows = any(e.get("kb") for e in failing)
        parts.append(self.say("vulns_action", windows=windows))
        return self._done(title, self._sentences(parts))

    # --- software ---------------------------------------------------------------------

    def _software(self, ev: dict[str, Any], _: float) -> Explained:
        banned = [b for b in _seq(ev.get("banned")) if isinstance(b, dict)]
        traces = [t for t in _seq(ev.get("activator_traces")) if isinstance(t, dict)]
        unlicensed = [
            a
            for a in _seq(ev.get("activation"))
            if isinstance(a, dict) and str(a.get("status")) != "Licensed"
        ]
        unlisted = int(_number(ev.get("not_allowed_count")) or 0)
        problems, facts = [], []
        if banned:
            shown = [
                self.say(
                    "software_item",
                    name=str(b.get("name") or ""),
                    category=str(b.get("category") or ""),
                )
                for b in banned[:SHOWN]
            ]
            problems.append(
                self.say(
                    "software_banned", count=len(banned), names=shown, more=len(banned) - len(shown)
                )
            )
            facts += [
                self.say(
                    "software_version",
                    name=str(b.get("name") or ""),
                    version=str(b.get("version") or ""),
                )
                for b in banned[:SHOWN]
            ]
        if traces:
            tools = sorted({str(t.get("tool") or "") for t in traces})
            problems.append(self.say("software_activator", tools=tools[:SHOWN]))
            facts += [self._trace(t) for t in traces[:SHOWN]]
        if unlicensed:
            first = unlicensed[0]
            problems.append(
                self.say(
                    "software_unlicensed",
                    name=str(first.get("name") or ""),
                    status=str(first.get("status") or ""),
                )
            )
        if unlisted:
            problems.append(self.say("software_unlisted", count=unlisted))
        if not problems:
            problems.append(self.say("software_other"))
        action = self.say(
            "software_action", banned=bool(banned), activator=bool(traces or unlicensed)
        )
        return self._done(self._join(problems), self._sentences([*facts, action]))

    def _trace(self, trace: dict[str, Any]) -> str:
        detail = str(trace.get("detail") or "")
        kms = re.match(r"KMS host (\S+)", detail)
        return self.say(
            "software_trace",
            kind=str(trace.get("kind") or ""),
            detail=kms[1] if kms else detail,
            tool=str(trace.get("tool") or ""),
        )

    # --- connections ------------------------------------------------------------------

    def _connections(self, ev: dict[str, Any], _: float) -> Explained:
        rows = rows_of_finding(
            "", "", Finding(check="connections", status="fail", title="", evidence=ev)
        )
        live = [r for r in rows if r.source == "socket"]
        entries = [r for r in rows if r.source == "hosts_file"]
        names = [r for r in rows if r.source == "dns_cache"]
        title = self.say(
            "connections_title", live=len(live), entries=len(entries), names=len(names)
        )
        shown = [
            self.say(
                f"connections_{row.source}",
                remote=row.remote,
                process=row.process,
                pid=row.pid,
                indicators=row.indicators,
                feeds=row.feeds,
            )
            for row in rows[:SHOWN]
        ]
        more = self.say("more", count=len(rows) - len(shown)) if len(rows) > len(shown) else ""
        action = self.say("connections_action", live=bool(live), entries=bool(entries))
        return self._done(title, self._sentences([*shown, more, action]))

    # --- infections -------------------------------------------------------------------

    def _infections(self, ev: dict[str, Any], _: float) -> Explained:
        active = [d for d in _seq(ev.get("detections")) if isinstance(d, dict)]
        in_window = int(_number(ev.get("detections_in_window")) or 0)
        count = max(len(active), in_window - len(_seq(ev.get("quarantined"))))
        suspicious = [s for s in _seq(ev.get("suspicious")) if isinstance(s, dict)]
        days = _number(ev.get("lookback_days")) or 7
        problems, facts = [], []
        if active:
            names = sorted({str(d.get("name") or "") for d in active})
            problems.append(
                self.say(
                    "infections_found",
                    count=count,
                    days=days,
                    names=names[:SHOWN],
                    more=max(len(names) - SHOWN, 0),
                )
            )
            facts += [
                self.say(
                    "infections_item",
                    name=str(d.get("name") or ""),
                    path=str(d.get("path") or ""),
                    at=_moment(d.get("detected_at")),
                )
                for d in active[:SHOWN]
            ]
        if suspicious or ev.get("suspicious_count"):
            problems.append(self.say("infections_forged"))
            kinds = []
            for line in suspicious:
                kind = _kind(_SUSPICIOUS, str(line.get("reason") or ""), "sus_other")
                if kind not in kinds:
                    kinds.append(kind)
            facts.append(
                self.say("infections_suspicious", reasons=[self.say(k) for k in kinds[:SHOWN]])
            )
        if not problems:
            problems.append(self.say("infections_other"))
        action = self.say("infections_action", found=bool(active), forged=bool(suspicious))
        return self._done(self._join(problems), self._sentences([*facts, action]))
