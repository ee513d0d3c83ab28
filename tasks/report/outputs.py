"""What a run writes: checked before anything starts, and one narrow boundary where writing fails.

    check_outputs(settings, envs)   every folder the run may write, after the settings are read
                                    and before an environment is chosen or anything started
    writing(what, path)             an OSError while the gate writes its own files becomes one
                                    ``OutputError`` line (a folder removed or a disk filled
                                    after the check), never a traceback

The folders: MC_REPORT_DIR (the JUnit and JSON reports, the local backend's log, the docker
stack's logs) for every environment, and the docker build cache for a run that may judge docker.
The check changes nothing on disk: a run that stops before it starts leaves no folder behind.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.settings import EnvName, Settings
from tasks.settings.errors import OutputError, SettingsError
from tasks.settings.quoting import quote

# Where the docker image build keeps its wheels, lock and compose env file, under the root;
# tests/unit/test_outputs.py pins it to the docker subsystem's own constant.
DOCKER_CACHE = Path(".cache") / "docker"
REPORTS = "the reports (MC_REPORT_DIR)"
_WRITE_ERRORS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "over the disk quota",
    errno.EEXIST: "something that is not a folder is in the way",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "a folder is in the way",
    errno.ENOENT: "a part of the path does not exist (removed during the run?)",
}


def find_blocker(path: Path) -> tuple[Path, str] | None:
    """What stops the gate making or writing the folder ``path``: (that path, what is wrong)."""
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    # os.path's tests never raise; Path's do, on a folder we may not look into
    if os.path.islink(probe) and not os.path.exists(probe):  # noqa: PTH110, PTH114
        return probe, "is a broken symbolic link"
    if not os.path.isdir(probe):  # noqa: PTH112
        kind = "a file" if os.path.isfile(probe) else "not a regular folder"  # noqa: PTH113
        return probe, f"is {kind}, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return probe, "is not writable"
    return None


def why_unwritable(path: Path) -> str | None:
    """Why the gate could not make or write the folder ``path`` (a sentence), or None if it can."""
    found = find_blocker(path)
    if found is None:
        return None
    blocker, what = found
    if blocker == path:
        return f"{quote(str(path))} {what}"
    return f"{quote(str(path))} cannot be created: {quote(str(blocker))} {what}"


def check_outputs(settings: Settings, envs: Iterable[EnvName]) -> None:
    """Every folder a run judging one of ``envs`` may write; the first that cannot be, named."""
    envs = tuple(envs)
    why = why_unwritable(settings.report_dir) if envs else None  # a step that judges nothing
    if why:
        raise SettingsError(settings.sources["MC_REPORT_DIR"], "MC_REPORT_DIR", why)
    found = find_blocker(settings.root / DOCKER_CACHE) if "docker" in envs else None
    if found:
        blocker, what = found
        shown = (
            blocker.relative_to(settings.root) if blocker.is_relative_to(settings.root) else blocker
        )
        raise OutputError(
            "the docker build cache", str(DOCKER_CACHE), f"{quote(str(shown))} {what}"
        )


def describe_write_error(exc: OSError) -> str:
    return _WRITE_ERRORS.get(exc.errno or 0) or exc.strerror or type(exc).__name__


@contextmanager
def writing(what: str, path: Path | str) -> Iterator[None]:
    """Turn an OSError from writing the gate's own file at ``path`` into an ``OutputError``."""
    try:
        yield
    except OSError as exc:
        raise OutputError(what, str(path), describe_write_error(exc)) from None
