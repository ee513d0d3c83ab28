"""The report: what a run tells people, as terminal text, JUnit properties, JSON and a page.

The gate uses only what this module exports:

    Summary, Counts                     the run's facts: env, why, target, phases, results
    read_junit / count_testcases        what the suite's JUnit XML says
    load_suite_data -> SuiteData        the suite's data file, trusted for nothing
    latency_facts / budget_breaches     the latency figures, and the budgets they break
    broken_rules                        the rules the failed checks break, for the verdict
    add_junit_properties / write_json   the summary into the JUnit XML, and as JSON
    render_page / write_page            the self-contained HTML page

Inside, lowest first (an import only ever points down):

    outputs     every folder a run writes, checked before it starts; the one place writing fails
    suite_data  the suite's data file (MC_REPORT_DATA) read into frozen values, scrubbed, capped
    summary     the summary as text, JUnit properties and JSON
    style       the page's stylesheet
    svg         the page's charts, as inline SVG
    page        the page itself

It imports only the settings (and `contract`), never an environment, the target or the gate.
"""

from __future__ import annotations

from tasks.report.page import render_page, write_page
from tasks.report.suite_data import SuiteData, latency_facts, read_suite_data
from tasks.report.summary import (
    Counts,
    Summary,
    add_junit_properties,
    broken_rules,
    budget_breaches,
    count_testcases,
    format_duration,
    format_ms,
    load_suite_data,
    read_junit,
    reported_version,
    write_json,
)

__all__ = [
    "Counts",
    "SuiteData",
    "Summary",
    "add_junit_properties",
    "broken_rules",
    "budget_breaches",
    "count_testcases",
    "format_duration",
    "format_ms",
    "latency_facts",
    "load_suite_data",
    "read_junit",
    "read_suite_data",
    "render_page",
    "reported_version",
    "write_json",
    "write_page",
]
