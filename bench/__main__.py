"""``python -m bench [--quick] [--only NAME,...]``: measure, then write. The names: unavailable,
readiness, wake, load, latency, concurrency, runs, team.

A full run writes bench/results.json and regenerates docs/benchmarks.md below its marker; with
--only, the metrics measured replace theirs and the others are kept. --quick (fewer reps, a smoke
run) writes bench/tmp/results-quick.json and leaves the committed files alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args

from bench import (
    concurrency,
    figures,
    latency,
    load,
    readiness,
    runs,
    table,
    team,
    unavailable,
    wake,
)
from bench.procs import ROOT, TMP, log
from tasks.settings import load_settings
from tasks.settings.errors import GateError

if TYPE_CHECKING:
    from docker import DockerClient

Name = Literal["unavailable", "readiness", "wake", "load", "latency", "concurrency", "runs", "team"]
NAMES: tuple[Name, ...] = get_args(Name)
RESULTS = ROOT / "bench" / "results.json"
QUICK_RESULTS = TMP / "results-quick.json"
DOC = ROOT / "docs" / "benchmarks.md"
NO_BYTECODE_NOTE = (
    "PYTHONDONTWRITEBYTECODE was set here and was unset for the benchmarks' children (Python's "
    "default: .pyc files written once, then reused; the warm-up reps write them)"
)


def parse_names(text: str) -> tuple[Name, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in NAMES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown benchmark(s) {unknown}; choose from {NAMES}")
    return tuple(n for n in NAMES if n in chosen)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer reps; a smoke run")
    parser.add_argument("--only", type=parse_names, default=NAMES, help="comma-separated subset")
    return parser


def docker_state() -> tuple[str | None, DockerClient | None, dict[str, str]]:
    """(None, client, why not for each missing compose family) or (why not, None, {})."""
    from tasks.environments import docker  # noqa: PLC0415 - the docker SDK only when measuring
    from tasks.environments.docker.compose import find_compose  # noqa: PLC0415
    from tasks.environments.docker.engine import connect_engine  # noqa: PLC0415

    settings = load_settings(ROOT)
    try:
        seen = docker.observe_docker(settings)
    except GateError as exc:
        return str(exc).splitlines()[0], None, {}
    if not seen.usable:
        return seen.reason, None, {}
    missing: dict[str, str] = {}
    engine = connect_engine(settings.docker_daemon_timeout)
    try:
        for family in ("v2", "v1"):
            try:
                find_compose(family, engine)
            except GateError as exc:
                missing[family] = str(exc).splitlines()[0]
    finally:
        engine.client.close()
    import docker as sdk  # noqa: PLC0415

    return None, sdk.from_env(timeout=30), missing


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    # Python's default for every child: bytecode cached once, reused (see NO_BYTECODE_NOTE).
    no_bytecode = os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None
    shutil.rmtree(TMP / "runs", ignore_errors=True)
    shutil.rmtree(TMP / "reports", ignore_errors=True)
    TMP.mkdir(parents=True, exist_ok=True)
    why_not, client, composes = docker_state()
    if why_not:
        log(f"Docker is not usable here, its benchmarks are not run: {why_not}")
    for family, why in composes.items():
        log(f"compose {family} is not usable here, its docker runs are not measured: {why}")
    metrics: list[figures.Metric] = []
    try:
        if "unavailable" in args.only:
            metrics += unavailable.measure(args.quick)
        if "readiness" in args.only:
            metrics += readiness.measure(args.quick, why_not)
        if "wake" in args.only:
            metrics += wake.measure(args.quick)
        if "load" in args.only:
            metrics += load.measure(args.quick)
        if "latency" in args.only:
            metrics += latency.measure(args.quick)
        if "concurrency" in args.only:
            metrics += concurrency.measure(args.quick)
        if "runs" in args.only:
            metrics += runs.measure(args.quick, why_not, client, composes)
        if "team" in args.only:
            metrics += team.measure(args.quick, why_not, client, composes)
    finally:
        if client is not None:
            client.close()
    target = QUICK_RESULTS if args.quick else RESULTS
    command = "python -m bench" + (" --quick" if args.quick else "")
    if args.only != NAMES:
        command += " --only " + ",".join(args.only)
    extra = {
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "quick": args.quick,
        "wall_s": round(time.perf_counter() - started, 1),
        "bytecode": NO_BYTECODE_NOTE if no_bytecode else "Python's default (cached .pyc files)",
    }
    results = figures.merge_results(figures.load_results(target), metrics, extra)
    if "runs" in args.only:  # measured again: the figures of a layout since replaced go
        for name in [n for n in results["metrics"] if n.startswith(runs.RETIRED)]:
            del results["metrics"][name]
    figures.write_results(target, results)
    if not args.quick:
        table.write_doc(DOC, results)
    print(table.render_tables(results))
    log(
        f"wrote {target.relative_to(ROOT)}"
        + ("" if args.quick else f" and {DOC.relative_to(ROOT)}")
    )
    missed = [name for name, item in results["metrics"].items() if item.get("met") is False]
    if missed:
        log(f"goals missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
