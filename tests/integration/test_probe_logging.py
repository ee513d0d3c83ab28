"""A probe's token must not reach any log record, even with every logger at DEBUG (as under nox)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.integration.conftest import ServiceLauncher

from tasks.environments.failures import Hints
from tasks.environments.probes import Plan, probe_socket
from tasks.environments.staging import mint_token


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_debug_root_logger_never_sees_the_probe_token(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start()
    token = mint_token(refservice_launcher.secret, "mc-probe")
    root = logging.getLogger()
    keep = Keep()
    before = root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    try:
        plan = Plan(
            ws_url=service.ws_url,
            http_url=f"http://{service.host}:{service.port}",
            health_url=f"http://{service.host}:{service.port}/health",
            bound=5.0,
            auth="jwt-secret",
            token=token,
            context=None,
            insecure_ok=False,
            secrets=(token,),
            hints=Hints(rejected="check the test's secret"),
        )
        results = probe_socket(plan)
    finally:
        root.removeHandler(keep)
        root.setLevel(before)
    assert [r.outcome for r in results] == ["pass", "pass"], results
    leaked = [line for line in keep.lines if token in line or token.split(".")[2] in line]
    assert leaked == []
