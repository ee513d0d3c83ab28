"""The service image, built without any registry.

    build_service_image
      ├── prepare_wheels       the service's dependencies (pyproject's `service` group) as wheels
      │                        in .cache/docker/wheels, downloaded once with pip (--only-binary,
      │                        for CPython 3.11-3.13 on manylinux); the build uses only them
      ├── resolve_base_image   the image to build on (``base``: present, pulled, or
      │                        made from Debian's packages)
      └── the Dockerfile, built through the engine API (the classic builder: no buildx needed)

The image is this checkout's own: labelled with the checkout (host and path), tagged with a name
derived from it (``mission-critical-gate/refservice:checkout-<hash>``), and known by the id the
build itself reported. The stack is started from that id, never from a tag: tags are shared by
every checkout on the engine, and another checkout's build may move one at any moment. A rebuild
removes this checkout's older images (those still in use stay), never another checkout's.

One build at a time per checkout (a file lock), so two runs started together share the work.
Every step logs as it goes; the first build (base + wheels) takes about a minute here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import platform
import re
import shutil
import socket
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.environments.docker.base import (
    CACHE_DIR,
    DEBOOTSTRAP_TIMEOUT,
    PROGRESS_EVERY,
    image_id,
    make_client,
    resolve_base_image,
)
from tasks.environments.docker.command import Log, run_command
from tasks.settings.errors import BringUpError

if TYPE_CHECKING:
    from docker import DockerClient

SERVICE_REPOSITORY = "mission-critical-gate/refservice"
LABEL_CHECKOUT = "mission-critical-gate.checkout"  # host:path of the checkout that built it
WHEEL_PYTHONS = ("3.11", "3.12", "3.13")  # any of these bases installs from the same cache
WHEELS_TIMEOUT = 300.0
BUILD_TIMEOUT = 900.0
LOCK_TIMEOUT = BUILD_TIMEOUT + DEBOOTSTRAP_TIMEOUT  # another run may be making the base
QUIET_BUILD = 1.0  # seconds: a build done sooner (all cached) logs none of its steps


@dataclass(frozen=True)
class BuiltImage:
    tag: str  # this checkout's tag, for people; the stack is started from image_id
    image_id: str  # sha256:..., as the build reported it
    base: str
    seconds: float

    def describe(self) -> str:
        short = self.image_id.removeprefix("sha256:")[:12]
        return f"{short} ({self.tag}) on {self.base}, built in {self.seconds:.1f}s"


def _fail(problem: str, detail: str = "") -> BringUpError:
    return BringUpError("docker", problem, detail)


# ---- the lock ---------------------------------------------------------------------------------


@contextlib.contextmanager
def hold_build_lock(cache: Path, log: Log, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Exclusive per checkout; waits (bounded, with progress) while another run builds."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "build.lock").open("a+") as handle:
        deadline = time.monotonic() + timeout
        next_note = time.monotonic()
        pause = 0.05
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            now = time.monotonic()
            if now >= deadline:
                raise _fail(
                    f"another run held the build lock {cache / 'build.lock'} for {timeout:g}s"
                )
            if now >= next_note:
                log("docker: another run is building the image; waiting for it")
                next_note = now + PROGRESS_EVERY * 2
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, 1.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---- wheels -----------------------------------------------------------------------------------


def _group(groups: dict[str, Any], name: str, depth: int = 0) -> list[str]:
    """One PEP 735 dependency group, its ``include-group`` entries expanded."""
    found: list[str] = []
    for entry in groups[name]:
        if isinstance(entry, str):
            found.append(entry)
        elif isinstance(entry, dict) and "include-group" in entry and depth < 10:
            found += _group(groups, str(entry["include-group"]), depth + 1)
    return found


def read_service_requirements(root: Path, group: str = "service") -> list[str]:
    """A dependency group of pyproject (``service``: the one list of the reference backend's
    dependencies)."""
    path = root / "pyproject.toml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        if group in document.get("dependency-groups", {}):
            return _group(document["dependency-groups"], group)
        return [str(r) for r in document["project"]["optional-dependencies"][group]]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(f"no `{group}` dependency group in {path} ({exc!r})") from None


def _pip() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if found := shutil.which(name):
            return [found]
    raise _fail(
        "no pip to download the service's wheels with",
        f"Install pip, or put the wheels (and requirements.txt) in {CACHE_DIR / 'wheels'}",
    )


def prepare_wheels(
    root: Path, log: Log, *, group: str = "service", wheels: Path | None = None
) -> Path:
    """The wheel cache for a build (``group``'s requirements, into ``wheels``: by default the
    service's, into .cache/docker/wheels); downloads only when the requirements changed."""
    wheels = wheels or root / CACHE_DIR / "wheels"
    requirements = read_service_requirements(root, group)
    arch = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    stamp = (
        f"# wheels for CPython {', '.join(WHEEL_PYTHONS)} on manylinux {arch}; "
        "made by tasks/docker/image.py\n" + "".join(f"{r}\n" for r in requirements)
    )
    marker = wheels / "requirements.txt"
    cached = marker.is_file() and marker.read_text(encoding="utf-8") == stamp
    if cached and any(wheels.glob("*.whl")):
        log(f"docker: wheels cached in {wheels}")
        return wheels
    wheels.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    log(f"docker: downloading wheels for {', '.join(requirements)} into {wheels}")
    for python in WHEEL_PYTHONS:
        command = [
            *_pip(),
            "download",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            f"--python-version={python}",
            "--implementation=cp",
            f"--abi=cp{python.replace('.', '')}",
            "--abi=abi3",
            "--abi=none",
            f"--platform=manylinux_2_28_{arch}",
            f"--platform=manylinux2014_{arch}",
            "--dest",
            str(wheels),
            *requirements,
        ]
        done = run_command(command, timeout=WHEELS_TIMEOUT)
        if done.returncode != 0:
            why = "timed out" if done.timed_out else f"exit code {done.returncode}"
            raise _fail(
                f"pip could not download the service's wheels for CPython {python} ({why})",
                f"{done.tail()}\nwithout PyPI, put the wheels and a requirements.txt listing "
                f"them in {wheels} by hand",
            )
    marker.write_text(stamp, encoding="utf-8")  # last: a half-filled cache is never trusted
    log(f"docker: {len(list(wheels.glob('*.whl')))} wheel(s) ready")
    return wheels


# ---- the service image ------------------------------------------------------------------------


def _build_lines(event: dict[str, Any]) -> list[str]:
    text = str(event.get("stream") or event.get("status") or "")
    return [line for line in text.splitlines() if line.strip()]


def checkout_key(root: Path) -> str:
    """Which checkout an image is from: host and path (two clones never share one)."""
    return f"{socket.gethostname()}:{root.resolve()}"


def checkout_tag(root: Path) -> str:
    digest = hashlib.sha256(checkout_key(root).encode()).hexdigest()[:12]
    return f"{SERVICE_REPOSITORY}:checkout-{digest}"


def _follow_build(events: Iterator[dict[str, Any]], base: str, log: Log) -> str:
    """Relay the builder's output once the build is slow (a cached one stays quiet); its id.

    The id is the one this build reported (``aux``, else its "Successfully built" line), never
    a tag's lookup afterwards: another checkout's build may have moved the tag meanwhile.
    """
    start = time.monotonic()
    found = ""
    recent: list[str] = []
    shown = 0
    for event in events:
        if "error" in event:
            detail = "\n".join([*recent[-10:], str(event["error"])])
            raise _fail(f"the image build failed on {base}", detail)
        if aux := event.get("aux"):
            found = str(aux.get("ID", found))
        lines = _build_lines(event)
        for line in lines:
            if not found and (built := re.fullmatch(r"Successfully built ([0-9a-f]{12,64})", line)):
                found = built[1]
        recent += lines
        if time.monotonic() - start > QUIET_BUILD:
            for line in recent[shown:]:
                log(f"  build: {line}")
            shown = len(recent)
        if time.monotonic() - start > BUILD_TIMEOUT:
            raise _fail(f"the image build took over {BUILD_TIMEOUT:g}s", "\n".join(recent[-10:]))
    return found


def build_service_image(client: DockerClient, root: Path, base_image: str, log: Log) -> BuiltImage:
    """Wheels, base and the Dockerfile, in that order, under the build lock."""
    start = time.monotonic()
    tag, key = checkout_tag(root), checkout_key(root)
    with hold_build_lock(root / CACHE_DIR, log):
        prepare_wheels(root, log)
        base = resolve_base_image(client, base_image, root, log)
        log(f"docker: building {tag} on {base}")
        builder = make_client(client, BUILD_TIMEOUT)
        try:
            events = builder.api.build(
                path=str(root),
                dockerfile="Dockerfile",
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                labels={LABEL_CHECKOUT: key},
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            )
            reported = _follow_build(events, base, log)
        except BringUpError:
            raise
        except Exception as exc:
            raise _fail(f"the image build failed on {base}: {exc}") from None
        finally:
            builder.close()
        new_id = image_id(client, reported) if reported else None  # the full id of a short one
        if new_id is None:
            raise _fail(f"the image build on {base} reported no image id ({reported!r})")
        _forget_older(client, key, keep=new_id)
    seconds = time.monotonic() - start
    short = new_id.removeprefix("sha256:")[:12]
    log(f"docker: image {short} ({tag}) ready in {seconds:.1f}s")
    return BuiltImage(tag, new_id, base, seconds)


def _forget_older(client: DockerClient, key: str, *, keep: str) -> None:
    """Remove this checkout's earlier builds; one still in use (a live stack's) stays."""
    from docker.errors import APIError  # noqa: PLC0415

    for item in client.api.images(filters={"label": f"{LABEL_CHECKOUT}={key}"}):
        if item["Id"] != keep:
            with contextlib.suppress(APIError):
                client.api.remove_image(item["Id"], noprune=False)
