"""One self-contained HTML report per run: context, verdicts, measurements, plots.

Everything (CSS, PNG figures) is inlined so the file can be mailed or archived
alone. Text is escaped; nothing from a bench file is trusted as HTML.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.formatting import format_limits, format_value, number
from harness.limits import Measurement, Verdict

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1f24}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 6px}
.ctx{border-collapse:collapse;font-size:13px;margin:8px 0 16px}
.ctx td{padding:2px 12px 2px 0} .ctx td:first-child{color:#57606a}
table.m{border-collapse:collapse;font-size:13px;margin:6px 0 10px;min-width:640px}
table.m th,table.m td{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:left}
table.m td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}
.marginal,.conditional_pass{background:#fff8c5;color:#7d4e00}
.conditional_fail{background:#ffebe9;color:#a40e26}.invalid,.error,.aborted{background:#ffebe9;color:#a40e26}
.skipped,.unset{background:#eaeef2;color:#57606a}.rerun{background:#fff1e5;color:#953800}
.passed{background:#dafbe1;color:#116329}.failed{background:#ffebe9;color:#a40e26}
.test{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:12px 0}
.test h2{margin:2px 0 6px}
.msg{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px;background:#f6f8fa;
padding:8px;border-radius:4px}
.fig{margin:6px 0} .fig img{max-width:100%;border:1px solid #eaeef2}
.summary span{margin-right:14px}
.filter{margin:12px 0;font-size:13px;color:#57606a}
.filter label{display:inline-block;margin-left:6px;padding:2px 10px;border:1px solid #d0d7de;
border-radius:12px;cursor:pointer;color:#1b1f24;background:#fff}
#f-all:checked~.filter label[for=f-all],#f-failed:checked~.filter label[for=f-failed],
#f-passed:checked~.filter label[for=f-passed],#f-skipped:checked~.filter label[for=f-skipped]
{background:#1b1f24;color:#fff;border-color:#1b1f24}
#f-failed:checked~.tests .test:not(.o-failed):not(.o-error):not(.o-aborted){display:none}
#f-passed:checked~.tests .test:not(.o-passed){display:none}
#f-skipped:checked~.tests .test:not(.o-skipped){display:none}
"""

# failures first, then interrupted, passed and skipped tests (run order within each)
_ORDER = {"failed": 0, "error": 0, "aborted": 1, "passed": 2, "skipped": 3}


@dataclass
class TestResult:
    """What the report shows of one test."""

    nodeid: str
    outcome: str  # passed | failed | error | skipped
    duration_s: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG)
    message: str = ""
    attempt: int = 1  # 1 first; a failed test run again gets 2, 3, ...
    reason: str = ""  # first | rerun | retest
    #: waits for a scope shared with another bench (ms, one per capture); [] when private
    scope_lock_waits_ms: list[float] = field(default_factory=list)


def _badge(text: str) -> str:
    shown = html.escape(text.upper().replace("_", " "))
    return f'<span class="badge {html.escape(text.lower())}">{shown}</span>'


def _num(v: float | None) -> str:
    return "" if v is None else number(v)


def _expanded_u(m: Measurement) -> str:
    """The expanded uncertainty (k = 2) of ``m`` when it has a budget, else empty."""
    big_u = m.extra.get("U")
    return "" if not isinstance(big_u, float) else html.escape(f"± {big_u:.2g}")


def _measurement_rows(ms: Iterable[Measurement]) -> str:
    rows = []
    for m in ms:
        lim = m.limits
        rows.append(
            "<tr>"
            f"<td>{html.escape(m.name)}</td>"
            f'<td class="num">{html.escape(format_value(m.value, m.unit, lim))}</td>'
            f"<td>{html.escape(m.unit)}</td>"
            f'<td class="num">{_num(lim.low)}</td><td class="num">{_num(lim.high)}</td>'
            f"<td>{html.escape(format_limits(m.unit, lim))}</td>"
            f'<td class="num">{_expanded_u(m)}</td>'
            f"<td>{_badge(m.verdict.value)}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>characteristic</th><th>value</th><th>unit</th><th>low</th><th>high</th>"
        "<th>limits</th><th>U (k = 2)</th><th>verdict</th></tr>"
    )
    return f'<table class="m">{head}{"".join(rows)}</table>'


def render(title: str, context: Mapping[str, str], tests: list[TestResult]) -> str:
    """The report as one HTML string."""
    counts: dict[str, int] = {}
    for t in tests:
        counts[t.outcome] = counts.get(t.outcome, 0) + 1
    n_meas = sum(len(t.measurements) for t in tests)
    n_fail_meas = sum(
        1
        for t in tests
        for m in t.measurements
        if m.verdict in (Verdict.FAIL, Verdict.INVALID, Verdict.CONDITIONAL_FAIL)
    )
    overall = "fail" if counts.get("failed", 0) + counts.get("error", 0) else "pass"
    # (a failed attempt run again counts as "rerun", not as a failure: its last attempt decides)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)} {_badge(overall)}</h1>",
        '<table class="ctx">',
        *(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in context.items()
        ),
        "</table>",
        '<div class="summary">',
        *(f"<span>{_badge(k)} {v}</span>" for k, v in sorted(counts.items())),
        f"<span>{n_meas} measurements, {n_fail_meas} out of limits</span></div>",
        # a filter by outcome without script: radio buttons and CSS sibling selectors
        '<input type="radio" name="f" id="f-all" checked hidden>'
        '<input type="radio" name="f" id="f-failed" hidden>'
        '<input type="radio" name="f" id="f-passed" hidden>'
        '<input type="radio" name="f" id="f-skipped" hidden>',
        '<div class="filter">show: <label for="f-all">all</label>'
        '<label for="f-failed">failed</label><label for="f-passed">passed</label>'
        '<label for="f-skipped">skipped</label></div>',
        '<div class="tests">',
    ]
    # a test's attempts stay together, in order, ranked by the outcome of its last one
    final = {t.nodeid: t.outcome for t in tests}
    first: dict[str, int] = {}
    for i, t in enumerate(tests):
        first.setdefault(t.nodeid, i)
    ranked = sorted(
        tests, key=lambda t: (_ORDER.get(final[t.nodeid], 1), first[t.nodeid], t.attempt)
    )
    for t in ranked:
        parts.append(f'<div class="test o-{html.escape(final[t.nodeid])}">')
        tries = (
            f" attempt {t.attempt} ({t.reason})" if t.attempt > 1 or t.reason == "retest" else ""
        )
        waits = t.scope_lock_waits_ms
        held = (
            f", waited {sum(waits):.0f} ms for the shared scope"
            f" ({len(waits)} capture{'s' if len(waits) > 1 else ''})"
            if waits
            else ""
        )
        parts.append(
            f"<h2>{_badge(t.outcome)} {html.escape(t.nodeid)}{html.escape(tries)} "
            f'<small style="color:#57606a">{t.duration_s:.2f} s{held}</small></h2>'
        )
        if t.measurements:
            parts.append(_measurement_rows(t.measurements))
        if t.message:
            parts.append(f'<div class="msg">{html.escape(t.message)}</div>')
        for caption, png in t.figures:
            if not png:  # a figure that could not be drawn: its caption says why
                parts.append(f'<div class="fig"><small>{html.escape(caption)}</small></div>')
                continue
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<div class="fig"><img alt="{html.escape(caption)}" '
                f'src="data:image/png;base64,{b64}"><br><small>{html.escape(caption)}</small></div>'
            )
        parts.append("</div>")
    parts.append("</div></body></html>")
    return "\n".join(parts)


def write(path: Path, title: str, context: Mapping[str, str], tests: list[TestResult]) -> Path:
    """Write the report to ``path`` (folders created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(title, context, tests), encoding="utf-8")
    return path
