"""The floors of the tree (docs: README "Layout"): every import points down, and no file grows
past the size at which it holds two ideas.

The imports are read from the source (ast), every one of them: at the top, inside functions
(the lazy ones), and under ``if TYPE_CHECKING``, so a rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contract", "refservice", "tasks", "bench", "tests")
MAX_LINES = 400
# The product's own code: the contract, the suite (checks and engine), the backend, the harness,
# the entry points. The project's own tests (tests/unit, tests/integration) are tables and
# scenarios, and are not held to it.
SIZED = ("contract", "refservice", "tasks", "bench", "tests/mission_critical", "noxfile.py")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the file
    imported: str  # dotted module name it imports (for `from x import y`: x.y and x)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every module `source` (the module `module`) imports, relative imports resolved."""
    found: list[Import] = []
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append(Import(module, target, node.lineno))
            found += [Import(module, f"{target}.{a.name}", node.lineno) for a in node.names]
    return found


SCRATCH = ("bench/tmp",)  # git-ignored: what the benchmarks unpack there (older suites) is not ours


def ours(path: Path) -> bool:
    """Whether `path` is the project's own source (not a venv, not the benchmarks' scratch)."""
    relative = path.relative_to(ROOT).as_posix()
    return ".nox" not in path.parts and not any(relative.startswith(f"{d}/") for d in SCRATCH)


@cache
def every_import() -> tuple[Import, ...]:
    files = [ROOT / "noxfile.py"]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    found: list[Import] = []
    for path in files:
        if not ours(path):
            continue
        found += imports_of(
            path.read_text(encoding="utf-8"), module_name(path), is_package=path.stem == "__init__"
        )
    return tuple(found)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# importer (a module or package), what it must not import, why: one row per rule.
FLOORS = [
    ("contract", ("tasks", "refservice", "tests", "bench"), "the contract is the lowest floor"),
    ("tests.mission_critical", ("tasks", "refservice", "bench"), "the suite runs on its own"),
    ("refservice", ("tasks", "tests", "bench"), "the reference backend is below the harness"),
    ("tasks", ("tests", "bench"), "the harness runs without the project's tests"),
    (
        "tests.mission_critical.engine",
        ("tests.mission_critical.test_",),
        "checks sit on the engine",
    ),
    (
        "tasks.settings",
        ("tasks.environments", "tasks.report", "tasks.gate", "tasks.target", "tasks.signals"),
        "settings are the harness's lowest floor",
    ),
    (
        "tasks.signals",
        ("tasks.settings", "tasks.environments", "tasks.report", "tasks.gate"),
        "a leaf",
    ),
    (
        "tasks.target",
        ("tasks.environments", "tasks.report", "tasks.gate"),
        "below the environments",
    ),
    (
        "tasks.report",
        ("tasks.environments", "tasks.target", "tasks.gate"),
        "below the environments",
    ),
    ("tasks.environments", ("tasks.gate", "tasks.invoke_tasks"), "below the spine"),
]


@pytest.mark.parametrize(("importer", "forbidden", "why"), FLOORS, ids=[row[0] for row in FLOORS])
def test_imports_point_down(importer: str, forbidden: tuple[str, ...], why: str) -> None:
    seen = [i for i in every_import() if within(i.importer, importer)]
    assert seen, f"no import read from {importer}: the scan itself is broken"
    up = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in seen
        if any(within(i.imported, f) or i.imported.startswith(f) for f in forbidden)
    ]
    assert not up, f"{why}: " + "; ".join(sorted(set(up)))


def test_nothing_imports_bench() -> None:
    up = [
        f"{i.importer}:{i.line}"
        for i in every_import()
        if within(i.imported, "bench") and not within(i.importer, "bench")
    ]
    assert not up, f"bench is an entry point: nothing may import it ({up})"


def test_the_contract_needs_only_the_standard_library() -> None:
    outside = {
        i.imported.split(".")[0]
        for i in every_import()
        if within(i.importer, "contract") and i.imported.split(".")[0] != "contract"
    }
    assert outside, "no import read from contract"
    assert outside <= set(sys.stdlib_module_names), sorted(outside - set(sys.stdlib_module_names))


IMPORT_CASES = [
    ("from tasks import gate", "tests.mission_critical.test_x", False, "tasks.gate"),
    ("def f():\n    import tasks.settings\n", "contract.rules", False, "tasks.settings"),
    ("if TYPE_CHECKING:\n    from refservice import x\n", "contract.rules", False, "refservice.x"),
    ("from .engine.client import Session", "tests.mission_critical.conftest", False, None),
    ("from ..settings import values", "tasks.report.page", False, "tasks.settings.values"),
    ("from . import svg", "tasks.report", True, "tasks.report.svg"),
]


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    IMPORT_CASES,
    ids=["absolute", "lazy", "type-checking", "relative", "parent", "package-relative"],
)
def test_the_scan_sees_every_kind_of_import(
    source: str, module: str, is_package: bool, expected: str | None
) -> None:
    names = {i.imported for i in imports_of(source, module, is_package=is_package)}
    if expected is None:  # the relative case: resolved against the importer's package
        assert "tests.mission_critical.engine.client.Session" in names
    else:
        assert expected in names


def test_a_scan_of_the_tree_finds_a_known_import() -> None:
    assert any(
        i.importer == "tasks.gate" and within(i.imported, "tasks.settings") for i in every_import()
    )


@cache
def sized_files() -> tuple[Path, ...]:
    files: list[Path] = []
    for entry in SIZED:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return tuple(path for path in files if ours(path))


def test_no_file_holds_two_ideas() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for path in sized_files()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert len(sized_files()) > 50, "the size check found almost no files"
    assert not long, f"over {MAX_LINES} lines, each is telling you it holds two ideas: {long}"
