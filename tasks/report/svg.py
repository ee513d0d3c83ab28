"""The report page's charts, drawn as inline SVG strings (no script, no external file).

Three small pictures: the phases of a run as horizontal bars, one latency metric as a histogram
with its percentiles (and budget) drawn as lines, and a run's messages on a time axis with the
offending ones marked. Each is a plain function from numbers to markup; every piece of text in
them is escaped here, and every shape carries a ``<title>`` so a screen reader or a hover shows
the figure behind it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from tasks.report.summary import format_duration, format_ms

INK, MUTED, GRID = "#1f2328", "#57606a", "#d0d7de"
BAR, MARKED, QUIET = "#3b6fb6", "#c62828", "#6e7781"
MARK_COLORS = {"p50": "#1f2328", "p95": "#9a4d00", "p99": "#6f42c1", "budget": MARKED}


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def phase_bars(phases: Mapping[str, float]) -> str:
    """One bar per phase, longest = full width, each labelled with its duration."""
    if not phases:
        return ""
    width, label_w, value_w, row = 560, 90, 80, 24
    longest = max(phases.values()) or 1.0
    body = []
    for index, (name, seconds) in enumerate(phases.items()):
        y = index * row
        span = max(1.0, (width - label_w - value_w) * seconds / longest)
        shown = format_duration(seconds)
        body.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="{INK}">'
            f"{escape(name)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{span:.1f}" height="{row - 8}" rx="2" '
            f'fill="{BAR}"><title>{escape(name)}: {shown}</title></rect>'
            f'<text x="{label_w + span + 6:.1f}" y="{y + 16}" fill="{MUTED}">{shown}</text>'
        )
    return _svg(width, row * len(phases), "phases of the run, by duration", body)


def histogram(
    values: Sequence[float],
    *,
    metric: str,
    marks: Sequence[tuple[str, float | None]],
    budgets: Sequence[float] = (),
) -> str:
    """How many runs took how long: bins from 0 to the slowest run (or the highest budget)."""
    width, height, left, top, bottom = 560, 190, 44, 40, 34
    plot_w, plot_h = width - left - 12, height - top - bottom
    label = f"{metric}: histogram of {len(values)} runs"
    if not values:
        body = [f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}">']
        body.append("no run reached this event</text>")
        return _svg(width, height, label, body)
    high = max([*values, *budgets]) or 1.0
    bins = max(5, min(40, math.ceil(math.sqrt(len(values)))))
    step = high / bins
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(value / step))] += 1
    tallest = max(counts)
    bar_w = plot_w / bins
    base = top + plot_h
    body = [
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="{GRID}"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" fill="{MUTED}">{tallest}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" fill="{MUTED}">0</text>',
    ]
    for index, count in enumerate(counts):
        if not count:
            continue
        bar_h = max(1.0, plot_h * count / tallest)
        low_ms, high_ms = index * step, (index + 1) * step
        body.append(
            f'<rect x="{left + index * bar_w + 0.5:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{max(1.0, bar_w - 1):.1f}" height="{bar_h:.1f}" fill="{BAR}">'
            f"<title>{format_ms(low_ms)} to {format_ms(high_ms)}: {count} run(s)</title></rect>"
        )
    for fraction in (0.0, 0.5, 1.0):
        x = left + plot_w * fraction
        anchor = {0.0: "start", 0.5: "middle", 1.0: "end"}[fraction]
        body.append(
            f'<text x="{x:.1f}" y="{height - 14}" text-anchor="{anchor}" fill="{MUTED}">'
            f"{format_ms(high * fraction) if fraction else '0 ms'}</text>"
        )
    lines = [(name, value) for name, value in marks if value is not None]
    lines += [("budget", value) for value in budgets]
    for index, (name, value) in enumerate(lines):
        x = left + plot_w * min(1.0, value / high)
        color = MARK_COLORS.get(name, INK)
        dash = "" if name == "budget" else ' stroke-dasharray="4 3"'
        y_text = 12 + 12 * (index % 3)
        anchor = "end" if x > left + plot_w * 0.8 else "start"
        nudge = -3 if anchor == "end" else 3
        body.append(
            f'<line x1="{x:.1f}" y1="{y_text - 8}" x2="{x:.1f}" y2="{top + plot_h}" '
            f'stroke="{color}" stroke-width="1.5"{dash}><title>{escape(name)} '
            f"{format_ms(value)}</title></line>"
            f'<text x="{x + nudge:.1f}" y="{y_text}" text-anchor="{anchor}" fill="{color}" '
            f'font-size="11">{escape(name)} {format_ms(value)}</text>'
        )
    return _svg(width, height, label, body)


def timeline_strip(points: Sequence[tuple[float | None, str, bool]]) -> str:
    """Messages as dots on a time axis (ms since the start was sent); marked ones in red."""
    timed = [(at, kind, marked) for at, kind, marked in points if at is not None]
    if not timed:
        return ""
    width, height, left, right = 560, 46, 10, 70
    span = max(at for at, _, _ in timed) or 1.0
    axis = height - 18
    body = [
        f'<line x1="{left}" y1="{axis}" x2="{width - right}" y2="{axis}" stroke="{GRID}"/>',
        f'<text x="{width - right + 6}" y="{axis + 4}" fill="{MUTED}">{format_ms(span)}</text>',
    ]
    for at, kind, marked in sorted(timed, key=lambda p: p[2]):  # marked ones drawn on top
        x = left + (width - left - right) * at / span
        tip = f"<title>{format_ms(at)}: {escape(kind)}{' (offending)' if marked else ''}</title>"
        if marked:
            shape = f"M{x - 6:.1f} {axis - 16} L{x + 6:.1f} {axis - 16} L{x:.1f} {axis - 4} Z"
            body.append(f'<path d="{shape}" fill="{MARKED}">{tip}</path>')
        else:
            body.append(f'<circle cx="{x:.1f}" cy="{axis}" r="4" fill="{QUIET}">{tip}</circle>')
    return _svg(width, height, f"{len(timed)} messages over {format_ms(span)}", body)
