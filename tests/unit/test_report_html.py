"""The report page over hand-written data files: what it shows, what it never holds, how fast.

The page is parsed back with the standard library's HTML parser, so the tests see elements and
attributes as a browser would, not substrings of markup. (tests/integration/test_report_browser.py
opens the same pages in a real browser.)
"""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tasks import report
from tasks.report import page as page_module
from tasks.report import suite_data
from tests.unit.report_pages import (
    FIXTURES,
    SECRET,
    TOKEN,
    load,
    many_users,
    render,
    scrubber,
    summary_for,
)

RENDER_BOUND = 2.0  # s to read and render 1,000 users, caps used up; ~0.35 s (docs/reports.md)
OWN_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "div", "p", "h1", "h2",
    "h3", "h4", "nav", "a", "section", "article", "dl", "dt", "dd", "table", "thead", "tbody",
    "tr", "th", "td", "span", "code", "pre", "ul", "li", "details", "summary", "figure",
    "figcaption", "footer", "strong", "svg", "rect", "line", "text", "circle", "path",
}  # fmt: skip


class Page(HTMLParser):
    """Elements with their attributes, the text of each element class, and all text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.stack: list[set[str]] = []
        self.by_class: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.elements.append((tag, found))
        if tag not in {"meta", "line", "rect", "circle", "path"}:
            self.stack.append(set(found.get("class", "").split()))

    def handle_endtag(self, tag: str) -> None:
        if tag not in {"meta", "line", "rect", "circle", "path"} and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for classes in self.stack:
            for name in classes:
                self.by_class.setdefault(name, []).append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def count(self, tag: str, css: str = "") -> int:
        return sum(
            1
            for name, attrs in self.elements
            if name == tag and (not css or css in attrs.get("class", "").split())
        )


def page_of(name: str, tmp_path: Path) -> tuple[str, Page]:
    html = render(name, tmp_path).read_text()
    return html, Page(html)


@pytest.mark.parametrize("name", FIXTURES)
def test_the_page_is_self_contained_and_uses_only_its_own_markup(name: str, tmp_path: Path) -> None:
    html, page = page_of(name, tmp_path)
    tags = {tag for tag, _ in page.elements}
    assert tags <= OWN_TAGS, tags - OWN_TAGS
    attributes = {key for _, attrs in page.elements for key in attrs}
    assert not {a for a in attributes if a.startswith("on")}
    assert not attributes & {"src", "srcset", "action", "formaction", "xlink:href"}
    links = [attrs["href"] for tag, attrs in page.elements if "href" in attrs]
    assert all(link.startswith("#") for link in links), links
    ids = {attrs["id"] for _, attrs in page.elements if "id" in attrs}
    assert {link[1:] for link in links} <= ids  # every link lands on the page itself
    style = html[html.index("<style>") : html.index("</style>")]
    assert "url(" not in style
    assert "@import" not in style
    assert page.count("script") == 0


@pytest.mark.parametrize("name", FIXTURES)
def test_no_secret_and_no_token_reaches_the_page(name: str, tmp_path: Path) -> None:
    html, _ = page_of(name, tmp_path)
    for value in (SECRET, TOKEN, TOKEN.split(".")[2], TOKEN.split(".")[1]):
        assert value not in html


def test_a_passing_page_shows_the_verdict_every_check_and_the_latency(tmp_path: Path) -> None:
    _, page = page_of("passing", tmp_path)
    data = load("passing")
    assert page.by_class["verdict"][0].strip().endswith("PASSED") or "PASSED" in "".join(
        page.by_class["verdict"]
    )
    assert page.count("tr", "check") == len(data.checks)
    assert page.count("tr", "failed") == 0
    assert page.count("article") == 0
    text = page.all_text()
    assert data.latency is not None
    for metric in suite_data.METRICS:
        stat = data.latency.summary[metric]
        assert report.format_ms(stat.p95) in text
        assert f"time to {metric}" in text
    assert page.count("svg", "chart") == 1 + 3  # phases + one histogram per metric
    assert "dialect" in text
    assert "reference (contract/dialects/reference.toml)" in text


def test_a_failing_page_puts_failed_checks_first_and_marks_the_offending_message(
    tmp_path: Path,
) -> None:
    html, page = page_of("reorder", tmp_path)
    data = load("reorder")
    failed = [c for c in data.checks if c.outcome == "failed"]
    outcomes = [
        a["class"].split()[1]
        for t, a in page.elements
        if t == "tr" and "check" in a.get("class", "")
    ]
    assert outcomes == sorted(outcomes, key=lambda o: o != "failed")
    assert outcomes.count("failed") == len(failed)
    assert page.count("article", "failure") == len(failed)
    timelines = sum(len(c.timelines) for c in failed)
    assert page.count("tr", "marked") == timelines  # one offending message per run
    marked = "".join(page.by_class["marked"])
    assert marked.count("offending") >= timelines
    assert "agent_thinking" in marked
    assert "agent_started" not in "".join(page.by_class["flag"])
    assert "[started-first] run=" in page.all_text()
    # the raw frames are there, but folded
    assert html.count("<details><summary>Raw frames") == timelines


def test_without_data_the_page_says_so_and_shows_what_the_junit_knows(tmp_path: Path) -> None:
    _, page = page_of("missing", tmp_path)
    notice = "".join(page.by_class["notice"])
    assert "No suite data: the suite wrote no data file." in notice
    assert page.count("tr", "failed") == 11
    assert "[started-first] run=" in page.all_text()
    assert "The suite reported no latency figures." in page.all_text()


def test_a_failed_bring_up_still_gets_a_page(tmp_path: Path) -> None:
    data = report.load_suite_data(tmp_path / "a", tmp_path / "b", scrubber(), ran=False)
    summary = summary_for(data)
    summary.phases = {"settings": 0.002, "choice": 0.001, "bring-up": 15.0}
    summary.verdict, summary.problem = "FAILED", "local environment did not come up: no READY"
    page = Page(report.render_page(summary, data, scrubber()))
    assert "The suite did not run, so it wrote no data." in page.all_text()
    assert "no READY" in page.all_text()
    assert "No check ran." in page.all_text()


def test_urls_from_the_data_file_are_shown_without_credentials() -> None:
    data = load("hostile")
    summary = summary_for(data)
    summary.ws_url = summary.http_url = ""  # the page falls back to the suite's own
    text = Page(report.render_page(summary, data, scrubber())).all_text()
    assert "ws://127.0.0.1:41234/ws?token=***" in text
    assert "http://***@127.0.0.1:41234/health" in text
    broken = suite_data.SuiteData("x", target={"ws_url": "ws://[::1/ws"})
    text = Page(report.render_page(summary, broken, scrubber())).all_text()
    assert "(a URL that does not parse)" in text


def test_hostile_strings_are_text_on_the_page_not_markup(tmp_path: Path) -> None:
    html, page = page_of("hostile", tmp_path)
    text = page.all_text()
    assert "</script><img src=x onerror=alert(1)>" in text  # shown, as text
    assert page.count("img") == 0
    assert "&lt;img src=x onerror=alert(5)&gt;" in html
    assert "Bearer ***" in text
    assert "EXCEEDED (rule latency)" in text  # the hostile budget, named as written


def test_a_thousand_users_render_fast_and_stay_small(tmp_path: Path) -> None:
    path = tmp_path / "big.suite.json"
    path.write_text(json.dumps(many_users(1000)))
    started = time.perf_counter()
    data = suite_data.read_suite_data(path, scrubber())
    html = report.render_page(summary_for(data), data, scrubber())
    seconds = time.perf_counter() - started
    assert data.problem == ""
    assert seconds < RENDER_BOUND, f"{seconds:.2f}s to read and render 1,000 users"
    assert len(html) < 6_000_000
    page = Page(html)
    assert page.count("tr", "marked") == suite_data.MAX_TIMELINES
    bars = re.findall(r"<title>[^<]* to [^<]*: (\d+) run\(s\)</title>", html)
    assert sum(map(int, bars)) == 1000 + 1000 + 980  # every run in its histogram once


def test_the_page_budget_caps_rows_and_raw_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "MAX_PAGE_ROWS", 250)
    monkeypatch.setattr(page_module, "MAX_PAGE_RAW", 10_000)
    path = tmp_path / "big.suite.json"
    path.write_text(json.dumps(many_users(30)))
    data = suite_data.read_suite_data(path, scrubber())
    page = Page(report.render_page(summary_for(data), data, scrubber()))
    assert page.count("table", "messages") == suite_data.MAX_TIMELINES
    assert sum(1 for t, a in page.elements if t == "td" and a.get("class") == "num") > 0
    assert page.count("div", "frame") == 5  # 10,000 characters of ~1,990 each
    assert "The page's budget for raw frames is spent." in page.all_text()
    assert "more message(s) not shown" in page.all_text()


INVISIBLE = [  # (what, a run_id the backend sent, as the page must show it)
    ("terminal escapes", "mc-run-1\x1b]0;x\x07\x1b[2J", "'mc-run-1\\x1b]0;x\\x07\\x1b[2J'"),
    ("a bidi override", "mc-run-1\u202e", "'mc-run-1\\u202e'"),
    ("a zero-width space", "mc-run\u200b-1", "'mc-run\\u200b-1'"),
    ("a trailing space", "mc-run-1 ", "'mc-run-1 '"),
]


@pytest.mark.parametrize(
    ("sent", "shown"), [c[1:] for c in INVISIBLE], ids=[c[0] for c in INVISIBLE]
)
def test_a_value_that_differs_invisibly_looks_different_on_the_page(sent: str, shown: str) -> None:
    message = suite_data.Message(
        at_ms=1.0, type="agent_thinking", run_id=sent, thread_id="t-1", user_id="u-1",
        tool_name="", execution_id="", marked=True, raw=f'{{"run_id": "{sent}"}}',
        raw_truncated=False,
    )  # fmt: skip
    timeline = suite_data.Timeline(
        "run mc-run-1 of user u-1", "mc-run-1", "t-1", "u-1", (message,), 0
    )
    check = suite_data.Check(
        "tests/mission_critical/test_runs.py::test_full", "test_full", "failed",
        violations=(suite_data.Violation("ids", "[ids] ...", "mc-run-1", "u-1", "t1"),),
        timelines={"t1": timeline},
    )  # fmt: skip
    data = suite_data.SuiteData("x.suite.json", checks=(check,))
    html = report.render_page(summary_for(data), data, scrubber())
    assert not {"\x1b", "\x07", "\u202e", "\u200b"} & set(html)  # not in a cell, nor a frame
    cells = Page(html).by_class["differs"]
    assert shown in cells
