"""Rule 2: every path the gate writes is checked before anything starts, and a write that fails
anyway is one line (tasks/report/outputs.py); and the pytest arguments that would undo the gate's
report.
"""

from __future__ import annotations

import errno
import importlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.environments.choose import Requested, candidates
from tasks.gate import check_pytest_args
from tasks.report.outputs import DOCKER_CACHE, check_outputs, why_unwritable, writing
from tasks.settings import load_settings
from tasks.settings.errors import ArgumentError, OutputError, SettingsError

Make = Callable[[Path], Path]  # builds something under a folder, returns the path to check


def a_file(base: Path) -> Path:
    (base / "README.md").write_text("x")
    return base / "README.md"


def under_a_file(base: Path) -> Path:
    return a_file(base) / "sub"


def deep_under_a_file(base: Path) -> Path:
    return a_file(base) / "a" / "b"


def a_broken_link(base: Path) -> Path:
    (base / "reports").symlink_to(base / "gone")
    return base / "reports"


def under_a_broken_link(base: Path) -> Path:
    return a_broken_link(base) / "sub"


def a_fifo(base: Path) -> Path:
    os.mkfifo(base / "reports")
    return base / "reports"


def not_writable(base: Path) -> Path:
    return Path("/proc/1/mc-reports")  # not writable even for root


UNWRITABLE: list[tuple[str, Make, str]] = [
    ("a-file", a_file, "README.md' is a file, not a folder"),
    ("under-a-file", under_a_file, "sub' cannot be created: '"),
    ("deep-under-a-file", deep_under_a_file, "README.md' is a file, not a folder"),
    ("a-broken-link", a_broken_link, "reports' is a broken symbolic link"),
    ("under-a-broken-link", under_a_broken_link, "reports' is a broken symbolic link"),
    ("a-fifo", a_fifo, "reports' is not a regular folder, not a folder"),
    ("not-writable", not_writable, "'/proc/1' is not writable"),
]


@pytest.mark.parametrize(
    ("make", "problem"), [r[1:] for r in UNWRITABLE], ids=[r[0] for r in UNWRITABLE]
)
def test_a_folder_that_cannot_be_written_is_named(tmp_path: Path, make: Make, problem: str) -> None:
    path = make(tmp_path)
    why = why_unwritable(path)
    assert why is not None
    assert problem in why
    assert why.startswith(repr(str(path)))


@pytest.mark.parametrize(
    "make",
    [lambda b: b, lambda b: b / "new", lambda b: b / "new" / "deeper"],
    ids=["exists", "to-create", "two-levels-to-create"],
)
def test_a_folder_that_can_be_made_passes_and_is_not_made(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path)
    assert why_unwritable(path) is None
    assert sorted(tmp_path.iterdir()) == []  # the check changes nothing


def test_the_report_folder_is_a_setting_and_named_as_one(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {"MC_REPORT_DIR": str(a_file(tmp_path))})
    check_outputs(settings, [])  # a step that judges nothing (inv docker.down) writes no report
    with pytest.raises(SettingsError) as caught:
        check_outputs(settings, ["local"])
    assert (caught.value.key, caught.value.where) == (
        "MC_REPORT_DIR",
        "environment variable MC_REPORT_DIR",
    )


@pytest.mark.parametrize(
    ("requested", "order", "checked"),
    [("docker", "local", True), ("auto", "staging,docker", True), ("auto", "local", False)],
)
def test_the_docker_cache_is_checked_when_docker_may_be_judged(
    tmp_path: Path, requested: Requested, order: str, checked: bool
) -> None:
    (tmp_path / ".cache").write_text("a file where a folder should be")
    environ = {"MC_REPORT_DIR": str(tmp_path / "reports"), "MC_ENV_ORDER": order}
    settings = load_settings(tmp_path, environ)
    envs = candidates(requested, settings)
    if not checked:
        check_outputs(settings, envs)
        return
    with pytest.raises(OutputError) as caught:
        check_outputs(settings, envs)
    assert str(caught.value) == (
        "cannot write the docker build cache at .cache/docker: '.cache' is a file, not a folder"
    )


def test_the_docker_cache_is_where_the_docker_build_keeps_it() -> None:
    for name in (
        "tasks.environments.docker.base",
        "tasks.docker_image",
    ):  # after / before the docker package
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        assert module.CACHE_DIR == DOCKER_CACHE
        return
    pytest.fail("no docker module holds CACHE_DIR: where does the image build cache live now?")


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
        (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only"),
        (
            FileExistsError(errno.EEXIST, "File exists"),
            "something that is not a folder is in the way",
        ),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
    ],
    ids=["permission", "full", "read-only", "in-the-way", "other"],
)
def test_a_write_that_fails_anyway_is_one_output_error(error: OSError, says: str) -> None:
    def write() -> None:
        raise error

    with pytest.raises(OutputError) as caught, writing("the reports (MC_REPORT_DIR)", "reports/x"):
        write()
    assert str(caught.value) == f"cannot write the reports (MC_REPORT_DIR) at reports/x: {says}"


def test_only_an_os_error_is_turned_into_an_output_error() -> None:
    with pytest.raises(ZeroDivisionError), writing("the reports", "r"):
        _ = 1 / 0


BAD_ARGS = [
    ("junitxml", ["--junitxml=/tmp/mine.xml"], "'--junitxml=/tmp/mine.xml'"),
    ("junitxml-apart", ["-k", "x", "--junitxml", "/tmp/m.xml"], "'--junitxml'"),
    ("junit-xml", ["--junit-xml=m.xml"], "'--junit-xml=m.xml'"),
    ("no-plugin", ["-p", "no:junitxml"], "'-p no:junitxml'"),
    ("no-plugin-joined", ["-pno:junitxml"], "'-p no:junitxml'"),
]


@pytest.mark.parametrize(("args", "named"), [r[1:] for r in BAD_ARGS], ids=[r[0] for r in BAD_ARGS])
def test_pytest_args_that_take_the_gates_report_away_are_refused(
    args: list[str], named: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        check_pytest_args(args)
    assert str(caught.value).startswith(f"bad pytest argument {named}: the gate writes")


@pytest.mark.parametrize(
    "args", [[], ["-k", "junitxml"], ["-p", "no:cacheprovider"], ["--junit-prefix=x", "-x"]]
)
def test_other_pytest_args_pass(args: list[str]) -> None:
    check_pytest_args(args)
