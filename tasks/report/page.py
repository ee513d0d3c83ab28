"""The run's report as one self-contained HTML page a person can open from a CI artifact.

``render_page`` turns the harness's ``Summary`` and the suite's data (``suite_data``) into
one string: inline CSS, inline SVG charts (``svg``), ``<details>`` for the folds,
no script and no URL of any kind, so it opens offline and loads nothing. Top to bottom:

- the verdict, big and coloured, and what the harness knows: environment and why, the target
  (URLs redacted), dialect, whose backend and its version, results, and the phases as bars;
- one row per check (failed first): name, rules, verdict, duration;
- each failed check: its violations, and the timeline of every run they name, the offending
  message marked in colour *and* words, the raw frames folded away, capped;
- latency of every run the suite started: p50/p95/p99/max per metric, budgets, histograms.

Every piece of text goes through ``_Page.esc``: the harness's secret scrubber, a pattern for
token-shaped strings (defence in depth: the suite already scrubbed its file), every character
that would not show made visible, then HTML escaping. A value the backend sent (ids, types,
tool names, its version, the message types no rule knows) is written as ``contract.visible.show``
renders it, and a raw frame as ``show_frame`` does: a run_id that differs from the expected one
only by a terminal escape, a bidi override or a trailing space must look different here too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from contract.visible import escape_invisible, show, show_frame
from tasks.report import svg
from tasks.report.style import CSS
from tasks.report.suite_data import METRICS, Check, SuiteData, Timeline, scrub_tokens
from tasks.report.summary import Summary, format_duration, format_ms, reported_version
from tasks.settings.quoting import redact_url

Scrub = Callable[[str], str]
MAX_PAGE_ROWS = 10_000  # timeline rows on one page; the rest are in the suite's data file
MAX_PAGE_RAW = 1_000_000  # characters of raw frames on one page
OPEN_TIMELINES = 3  # per failed check shown unfolded; the rest sit in a fold
OPEN_VIOLATIONS = 5  # likewise
_ORDER = {"failed": 0, "skipped": 1, "passed": 2}
_ICON = {"failed": "\u2717", "skipped": "\u2013", "passed": "\u2713"}  # cross, dash, tick
LATENCY_MEANING = (
    "Milliseconds from sending a run's start to its first event of each kind, over every run "
    "the suite started."
)


class _Page:
    """One render: the scrubber and what is left of the page's size budget."""

    def __init__(self, scrub: Scrub) -> None:
        self.scrub = scrub
        self.rows_left = MAX_PAGE_ROWS
        self.raw_left = MAX_PAGE_RAW

    def clean(self, text: object) -> str:
        """The text with every known secret and anything token-shaped replaced by ***."""
        return scrub_tokens(self.scrub(str(text)))

    def esc(self, text: object) -> str:
        return escape(escape_invisible(self.clean(text), keep="\n"), quote=True)

    def value(self, value: str) -> str:
        """A value the backend sent, as people should see it (`contract.visible.show`)."""
        return self.esc(show(self.clean(value)))


def render_page(summary: Summary, data: SuiteData, scrub: Scrub) -> str:
    """The whole page as one string."""
    page = _Page(scrub)
    verdict = summary.verdict.lower() if summary.verdict in {"PASSED", "FAILED"} else "unknown"
    checks = sorted(enumerate(data.checks), key=lambda item: _ORDER.get(item[1].outcome, 3))
    failed = [(index, check) for index, check in checks if check.outcome == "failed"]
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        (
            f"<title>{page.esc(summary.verdict)}: mission-critical gate on "
            f"{page.esc(summary.env or '-')}</title><style>{CSS}</style></head><body>"
        ),
        f'<header class="verdict {verdict}"><div><p class="kicker">mission-critical gate</p>',
        f'<h1 id="verdict">{_ICON.get(verdict, "?")} {page.esc(summary.verdict)}</h1>',
        f'<p class="problem">{page.esc(summary.problem)}</p>' if summary.problem else "",
        "</div></header><main>",
        _facts(page, summary, data),
        '<nav><a href="#checks">Checks</a>',
        f'<a href="#failures">Failed checks ({len(failed)})</a>' if failed else "",
        '<a href="#latency">Latency</a><a href="#files">Files</a></nav>',
    ]
    if data.problem:
        parts.append(
            f'<p class="notice" id="no-data"><strong>{page.esc(_no_data(summary, data))}</strong> '
            "This page shows what the harness knows; timelines and latency figures need the "
            "suite's data file.</p>"
        )
    parts.append(_check_table(page, checks))
    if failed:
        parts.append('<section id="failures"><h2>Failed checks</h2>')
        parts += [_failure(page, check, index) for index, check in failed]
        parts.append("</section>")
    parts.append(_latency(page, data))
    parts.append(_files(page, summary, data))
    parts.append("</main></body></html>\n")
    return "".join(parts)


def write_page(summary: Summary, data: SuiteData, path: Path, scrub: Scrub) -> None:
    """Render and write the page (whole, or not at all)."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(render_page(summary, data, scrub), encoding="utf-8")
    partial.replace(path)


def _head(css: str, *columns: str) -> str:
    """The start of a table: one header per column; a leading # right-aligns a number column."""
    cells = "".join(
        f'<th class="num">{name[1:]}</th>' if name.startswith("#") else f"<th>{name}</th>"
        for name in columns
    )
    return f'<div class="scroll"><table class="{css}"><thead><tr>{cells}</tr></thead><tbody>'


def _no_data(summary: Summary, data: SuiteData) -> str:
    if "suite" not in summary.phases:
        return "The suite did not run, so it wrote no data."
    return f"No suite data: {data.problem}."


def _facts(page: _Page, summary: Summary, data: SuiteData) -> str:
    target = data.target
    rows: list[tuple[str, str]] = [
        ("environment", f"{summary.env or '-'} (requested: {summary.requested})"),
        ("why", summary.reason or "-"),
        *((f"not {env}", why) for env, why in summary.rejected),
        ("target", _url(summary.ws_url or target.get("ws_url", ""))),
        ("health", _url(summary.http_url or target.get("health_url", ""))),
    ]
    if target.get("dialect"):
        source = target.get("dialect_source", "")
        rows.append(("dialect", f"{target['dialect']}" + (f" ({source})" if source else "")))
    if summary.backend:
        rows.append(("backend", summary.backend))
    version = reported_version(summary.backend_version, target.get("backend_version", ""))
    rows.append(("version", show(version) if version else "did not report a version"))
    if target.get("auth_mode"):
        rows.append(("auth", target["auth_mode"]))
    if target.get("users"):
        rows.append(("users", f"{target['users']} concurrent in the load check"))
    rows.append(("results", str(summary.counts)))
    if summary.pytest_args:
        rows.append(("pytest args", f"{' '.join(summary.pytest_args)} (the verdict covers these)"))
    if data.latency is not None:
        glance = [
            f"{metric} p95 {format_ms(data.latency.summary[metric].p95)}"
            for metric in ("agent_started", "agent_completed")
        ]
        rows.append(("latency", ", ".join(glance) + " (details below)"))
    if data.started_at:
        wall = f", the suite took {format_duration(data.wall_s)}" if data.wall_s is not None else ""
        rows.append(("started", data.started_at + wall))
    listing = "".join(f"<dt>{page.esc(k)}</dt><dd>{page.esc(v)}</dd>" for k, v in rows)
    bars = svg.phase_bars({page.clean(k)[:40]: v for k, v in summary.phases.items()})
    chart = f"<figure><figcaption>Phases</figcaption>{bars}</figure>" if bars else ""
    return f'<section class="facts"><dl>{listing}</dl>{chart}</section>'


def _url(url: str) -> str:
    """The URL without credentials; one that does not parse is not shown at all."""
    try:
        return redact_url(url) or "-"
    except ValueError:
        return "(a URL that does not parse)"


def _check_table(page: _Page, checks: list[tuple[int, Check]]) -> str:
    """Every check, one row each; in a failing run the passed ones sit in a fold."""
    parts = ['<section id="checks"><h2>Checks</h2>']
    if not checks:
        return parts[0] + "<p>No check ran.</p></section>"
    passed = [item for item in checks if item[1].outcome == "passed"]
    if len(passed) == len(checks) or len(passed) == 0:
        parts.append(_check_rows(page, checks))
    else:
        parts.append(_check_rows(page, [item for item in checks if item[1].outcome != "passed"]))
        parts.append(f"<details><summary>{len(passed)} passed check(s)</summary>")
        parts.append(_check_rows(page, passed) + "</details>")
    parts.append("</section>")
    return "".join(parts)


def _check_rows(page: _Page, checks: list[tuple[int, Check]]) -> str:
    rows = [_head("checks", "verdict", "check", "rules", "#duration")]
    for index, check in checks:
        broken = {v.rule for v in check.violations}
        rules = "".join(
            f'<span class="rule{" broken" if rule in broken else ""}">{page.esc(rule)}</span>'
            for rule in [*check.rules, *sorted(broken - set(check.rules))]
        )
        name = page.esc(check.name or check.nodeid)
        if check.outcome == "failed":
            name = f'<a href="#check-{index}">{name}</a>'
        note = (
            f'<div class="muted">{page.esc(check.skip_reason)}</div>' if check.skip_reason else ""
        )
        duration = format_duration(check.duration_s) if check.duration_s is not None else "-"
        rows.append(
            f'<tr class="check {check.outcome}"><td><span class="badge {check.outcome}">'
            f"{_ICON.get(check.outcome, '?')} {check.outcome}</span></td>"
            f'<td>{name} <span class="muted mono">{page.esc(_module(check.nodeid))}</span>{note}'
            f'</td><td class="rules">{rules}</td><td class="num">{duration}</td></tr>'
        )
    rows.append("</tbody></table></div>")
    return "".join(rows)


def _module(nodeid: str) -> str:
    """`test_auth.py` of `tests/mission_critical/test_auth.py::test_x[case]`."""
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def _failure(page: _Page, check: Check, index: int) -> str:
    keys = list(check.timelines)
    title = page.esc(check.name or check.nodeid)
    parts = [
        f'<article class="failure" id="check-{index}"><h3>{_ICON["failed"]} {title}</h3>',
        f'<p class="muted mono">{page.esc(check.nodeid)}</p><ul class="violations">',
    ]
    for position, violation in enumerate(check.violations):
        if position == OPEN_VIOLATIONS:
            rest = len(check.violations) - position
            parts.append(f'</ul><details><summary>{rest} more</summary><ul class="violations">')
        link = ""
        if violation.timeline is not None and violation.timeline in check.timelines:
            link = f' <a href="#tl-{index}-{keys.index(violation.timeline)}">timeline</a>'
        parts.append(
            f'<li><span class="rule broken">{page.esc(violation.rule or "failure")}</span>'
            f"<code>{page.esc(violation.text)}</code>{link}</li>"
        )
    if not check.violations:
        parts.append("<li>The check failed without naming a rule.</li>")
    parts.append("</ul></details>" if len(check.violations) > OPEN_VIOLATIONS else "</ul>")
    for position, key in enumerate(keys):
        body = _timeline(page, check.timelines[key], f"tl-{index}-{position}")
        if position < OPEN_TIMELINES:
            parts.append(body)
        else:
            title = page.esc(check.timelines[key].title or key)
            parts.append(f"<details><summary>Timeline: {title}</summary>{body}</details>")
    if check.violations_omitted:
        parts.append(f'<p class="muted">{check.violations_omitted} more violation(s) omitted.</p>')
    if check.timelines_omitted:
        parts.append(f'<p class="muted">{check.timelines_omitted} more timeline(s) omitted.</p>')
    parts.append("</article>")
    return "".join(parts)


def _timeline(page: _Page, timeline: Timeline, anchor: str) -> str:
    shown = timeline.messages[: max(0, page.rows_left)]
    page.rows_left -= len(shown)
    omitted = timeline.omitted + len(timeline.messages) - len(shown)
    own = (timeline.run_id, timeline.thread_id, timeline.user)
    parts = [
        f'<section class="timeline" id="{anchor}"><h4>{page.esc(timeline.title or "a run")}</h4>',
        svg.timeline_strip([(m.at_ms, page.clean(m.type), m.marked) for m in shown]),
        _head(
            "messages", "", "#ms", "type", "run_id", "thread_id", "user_id", "tool", "execution_id"
        ),
    ]
    for message in shown:
        ids = (message.run_id, message.thread_id, message.user_id)
        cells = "".join(
            f'<td class="{"same" if value == mine else "differs"}">{page.value(value)}</td>'
            if value
            else "<td></td>"
            for value, mine in zip(ids, own, strict=True)
        )
        flag = '<span class="flag">\u25b6 offending</span>' if message.marked else ""
        row_class = ' class="marked"' if message.marked else ""
        at = f"{message.at_ms:,.1f}" if message.at_ms is not None else "-"
        parts.append(
            f"<tr{row_class}>"
            f'<td>{flag}</td><td class="num">{at}</td><td>{page.value(message.type)}</td>{cells}'
            f"<td>{_optional(page, message.tool_name)}</td>"
            f"<td>{_optional(page, message.execution_id)}</td></tr>"
        )
    parts.append("</tbody></table></div>")
    if omitted:
        parts.append(f'<p class="muted">{omitted} more message(s) not shown.</p>')
    parts.append(_raw_frames(page, timeline, len(shown)))
    parts.append("</section>")
    return "".join(parts)


def _optional(page: _Page, value: str) -> str:
    """A value the backend may leave out: shown when it sent one, else an empty cell."""
    return page.value(value) if value else ""


def _raw_frames(page: _Page, timeline: Timeline, count: int) -> str:
    frames, spent = [], ""
    for message in timeline.messages[:count]:
        if not message.raw:
            continue
        if page.raw_left <= 0:
            spent = '<p class="muted">The page\'s budget for raw frames is spent.</p>'
            break
        text = message.raw[: page.raw_left]
        page.raw_left -= len(text)
        cut = " (cut)" if message.raw_truncated or len(text) < len(message.raw) else ""
        at = format_ms(message.at_ms)
        frames.append(
            f'<div class="frame{" marked" if message.marked else ""}"><p>{at} '
            f"{page.value(message.type)}{cut}{' - offending' if message.marked else ''}</p>"
            f"<pre>{page.esc(show_frame(text))}</pre></div>"
        )
    if not frames:
        return spent
    return (
        f"<details><summary>Raw frames ({len(frames)}, secrets scrubbed, at most 2,000 "
        f"characters each)</summary>{''.join(frames)}{spent}</details>"
    )


def _latency(page: _Page, data: SuiteData) -> str:
    head = '<section id="latency"><h2>Latency</h2>'
    latency = data.latency
    if latency is None:
        return head + '<p class="muted">The suite reported no latency figures.</p></section>'
    rows = [
        head,
        f'<p class="muted">{LATENCY_MEANING}</p>',
        _head("latency", "time to", "#runs", "#never came", "#p50", "#p95", "#p99", "#max"),
    ]
    for metric in METRICS:
        stat = latency.summary[metric]
        figures = "".join(
            f'<td class="num">{format_ms(v)}</td>' for v in (stat.p50, stat.p95, stat.p99, stat.max)
        )
        rows.append(
            f'<tr><td>{metric}</td><td class="num">{stat.count}</td>'
            f'<td class="num">{latency.missing[metric]}</td>{figures}</tr>'
        )
    rows.append("</tbody></table></div>")
    rows.append(_budgets(page, data))
    rows.append('<div class="charts">')
    for metric in METRICS:
        stat = latency.summary[metric]
        chart = svg.histogram(
            latency.values[metric],
            metric=metric,
            marks=[("p50", stat.p50), ("p95", stat.p95), ("p99", stat.p99)],
            budgets=[b.budget_ms for b in latency.budgets if b.metric == metric],
        )
        rows.append(f"<figure><figcaption>time to {metric}</figcaption>{chart}</figure>")
    rows.append("</div></section>")
    return "".join(rows)


def _budgets(page: _Page, data: SuiteData) -> str:
    budgets = data.latency.budgets if data.latency else ()
    if not budgets:
        return '<p class="muted" id="budgets">No latency budget is set.</p>'
    rows = [
        '<h3 id="budgets">Budgets</h3>',
        _head("budgets", "budget", "#figure", "#limit", "verdict"),
    ]
    for budget in budgets:
        state = "held" if budget.ok else "EXCEEDED (rule latency)"
        badge = f'<span class="badge {"passed" if budget.ok else "failed"}">{state}</span>'
        rows.append(
            f"<tr><td>{page.esc(budget.metric)} {page.esc(budget.percentile)}</td>"
            f'<td class="num">{format_ms(budget.value_ms)}</td>'
            f'<td class="num">{format_ms(budget.budget_ms)}</td>'
            f"<td>{badge}</td></tr>"
        )
    rows.append("</tbody></table></div>")
    return "".join(rows)


def _files(page: _Page, summary: Summary, data: SuiteData) -> str:
    files = [
        ("JUnit XML", summary.junit_path),
        ("JSON summary", summary.json_path),
        ("suite data", data.path if not data.problem else ""),
    ]
    listing = "".join(
        f'<dt>{name}</dt><dd class="mono">{page.esc(Path(path).name)}</dd>'
        for name, path in files
        if path
    )
    unknown = ", ".join(f"{page.value(k)} x{v}" for k, v in sorted(data.unknown_types.items()))
    extra = f"<p>Message types no rule knows (ignored): {unknown}</p>" if unknown else ""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f'<footer id="files"><h2>Files</h2><dl>{listing}</dl>{extra}'
        f"<p>Written {made} by the mission-critical gate. Secrets are scrubbed from this page."
        "</p></footer>"
    )
