"""pytest plugin (``-p bench.suite_probe``): what the load benchmark needs to know of a suite run.

It times each ``Session.open`` of the suite's client (first start to last finish: connections per
second), counts the events each connection's ``Demux.check`` judged and the violations it found
(the suite's verdict, counted independently of how the test reports it), and records the call
phase of each test. The wrapped functions run unchanged; the result goes to $BENCH_PROBE_OUT.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

OUT_ENV = "BENCH_PROBE_OUT"
_opens: list[tuple[float, float]] = []
_checked = {"connections": 0, "events": 0, "violations": 0}
_calls: list[dict[str, Any]] = []


def _wrap_session(cls: Any) -> None:
    original = cls.__dict__["open"].__func__

    async def timed_open(klass: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        session = await original(klass, *args, **kwargs)
        _opens.append((started, time.perf_counter()))
        return session

    cls.open = classmethod(timed_open)


def _wrap_demux(cls: Any) -> None:
    original = cls.check

    def counted_check(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = original(self, *args, **kwargs)
        _checked["connections"] += 1
        _checked["events"] += sum(len(run.events) for run in self.runs)
        _checked["violations"] += len(found)
        return found

    cls.check = counted_check


def pytest_collection_finish(session: pytest.Session) -> None:  # noqa: ARG001 - hook signature
    for name, module in list(sys.modules.items()):
        if name.endswith("mission_critical.engine.client") and hasattr(module, "Session"):
            _wrap_session(module.Session)
        if name == "contract.routing" and hasattr(module, "Demux"):
            _wrap_demux(module.Demux)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _calls.append({"test": report.nodeid, "outcome": report.outcome, "s": report.duration})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:  # noqa: ARG001
    out = os.environ.get(OUT_ENV)
    if not out:
        return
    facts = {
        "opens": len(_opens),
        "open_s": (max(e for _, e in _opens) - min(s for s, _ in _opens)) if _opens else None,
        **_checked,
        "calls": _calls,
    }
    Path(out).write_text(json.dumps(facts), encoding="utf-8")
