"""The report of real gate runs, opened in a real browser: a pass and a ``--fault reorder``.

Two ``nox`` runs, as a user starts them: ``mission_critical-local`` against the reference
backend, and ``mission_critical-staging`` aimed at a reference backend started here with
``--fault reorder``. Every run must write its page and print its path; the page must open
clean, hold no secret, and say what the harness knows.

Two of them also read the suite's own data file (MC_REPORT_DATA): latency figures, timelines,
the marked message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration import nox_runs
from tests.integration.browser import read_png, visit
from tests.integration.test_report_browser import FOREIGN, MARKED_ROWS, VERDICT, drawn

if TYPE_CHECKING:
    from tests.integration.conftest import ServiceLauncher

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "mc-e2e-report-secret-0123456789abcdef012345"
REPORTS_ROW = re.compile(r"^\s+reports\s+: (\S+\.xml), (\S+\.json), (\S+\.html)$", re.MULTILINE)


@dataclass(frozen=True)
class GateRun:
    returncode: int
    output: str
    page: Path
    summary: dict[str, Any]

    @property
    def data_file(self) -> Path:
        return self.page.with_suffix(".suite.json")


def run_gate(directory: Path, session: str, **environ: str) -> GateRun:
    """`nox -s session` with these settings; its output, page and JSON summary."""
    done = nox_runs.run_nox(directory, "-s", session, env=environ)
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out[-4000:]
    match = REPORTS_ROW.search(out)
    assert match, f"the summary names no page:\n{out[-4000:]}"
    page = Path(match[3])
    assert page.is_file(), out[-4000:]
    summary = json.loads(Path(match[2]).read_text())
    return GateRun(done.returncode, out, page, summary)


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    reports = tmp_path_factory.mktemp("reports-pass")
    return run_gate(reports, "mission_critical-local", MC_JWT_SECRET=SECRET)


@pytest.fixture(scope="module")
def failing(
    tmp_path_factory: pytest.TempPathFactory, module_refservice_launcher: ServiceLauncher
) -> GateRun:
    service = module_refservice_launcher.start("--fault", "reorder", secret=SECRET)
    return run_gate(
        tmp_path_factory.mktemp("reports-reorder"),
        "mission_critical-staging",
        STAGING_WEBSOCKET_URL=service.ws_url,
        STAGING_BACKEND_URL=f"http://{service.host}:{service.port}",
        STAGING_JWT_SECRET=SECRET,
        MC_TIMEOUT="3",
    )


def open_clean(chromium: str, run: GateRun, *expressions: str) -> dict[str, Any]:
    """Open the run's page; it must load only itself, log nothing, and draw something."""
    seen = visit(chromium, run.page.as_uri(), expressions=[VERDICT, FOREIGN, *expressions])
    assert seen.errors == []
    assert seen.requests == [run.page.as_uri()]
    assert seen.values[FOREIGN] == 0
    assert drawn(read_png(seen.png))
    for path in run.page.parent.iterdir():
        assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in run.output
    return seen.values


def test_a_passing_run_writes_its_page_and_the_page_opens_clean(
    chromium: str, passing: GateRun
) -> None:
    assert passing.returncode == 0, passing.output[-4000:]
    values = open_clean(chromium, passing)
    assert values[VERDICT].endswith("PASSED")
    assert passing.summary["html_path"] == str(passing.page)


def test_a_failing_run_writes_its_page_naming_the_broken_rule(
    chromium: str, failing: GateRun
) -> None:
    assert failing.returncode != 0
    assert "mission-critical gate: FAILED" in failing.output
    values = open_clean(chromium, failing)
    assert values[VERDICT].endswith("FAILED")
    assert "[started-first] run=" in failing.page.read_text()


def test_a_passing_run_reports_latency_in_terminal_json_and_page(passing: GateRun) -> None:
    assert passing.data_file.is_file(), "the suite wrote no data file"
    assert re.search(r"^\s+latency\s+: agent_started p50 [\d.,]+ ms", passing.output, re.MULTILINE)
    summary = passing.summary["latency"]["summary"]
    assert summary["agent_completed"]["count"] > 0
    assert summary["agent_started"]["p95"] is not None
    html = passing.page.read_text()
    assert html.count('<svg class="chart"') == 4  # phases + a histogram per metric


def test_a_failing_runs_page_marks_the_offending_message(chromium: str, failing: GateRun) -> None:
    assert failing.data_file.is_file(), "the suite wrote no data file"
    values = open_clean(chromium, failing, MARKED_ROWS)
    rows = values[MARKED_ROWS]
    assert rows, "no marked message"
    text, visible, _ = rows[0]
    assert visible
    assert "offending" in text
    assert "agent_thinking" in text
