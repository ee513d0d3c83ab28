"""The image the service is built on, had without any registry if need be.

resolve_base_image   MC_DOCKER_BASE_IMAGE if present; else the local Debian base if it was
                     made before; else a pull (bounded); else build_debian_base
build_debian_base    mmdebstrap (Debian's packages) -> tarball -> docker import, tagged
                     mission-critical-gate/base:bookworm and kept for reuse
why_no_base          the cheap question auto asks: could a base be had here at all?
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.environments.docker.command import Log, run_command
from tasks.settings.errors import BringUpError

if TYPE_CHECKING:
    from docker import DockerClient

DEBIAN_BASE = "mission-critical-gate/base:bookworm"
DEBIAN_SUITE = "bookworm"  # its python3 is 3.11, like the default python:3.11-slim
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
CACHE_DIR = Path(".cache/docker")  # under the checkout; git-ignored; the build context sees wheels/

PULL_PROBE_TIMEOUT = 10.0  # seconds to learn whether a registry answers at all
PULL_CHECK_TIMEOUT = 3.0  # the same, when auto only asks whether Docker could work
PULL_TIMEOUT = 600.0
DEBOOTSTRAP_TIMEOUT = 900.0
IMPORT_TIMEOUT = 900.0
PROGRESS_EVERY = 5.0  # seconds between progress lines of a quiet long step

MMDEBSTRAP_HINT = (
    "Install mmdebstrap (`bash .ci/install-docker-build-deps.sh`, or `sudo apt-get install "
    "mmdebstrap`), or load a base image with `docker load` and name it in MC_DOCKER_BASE_IMAGE"
)


def _fail(problem: str, detail: str = "") -> BringUpError:
    return BringUpError("docker", problem, detail)


def image_id(client: DockerClient, name: str) -> str | None:
    """The id of the local image ``name``, or None when there is none."""
    from docker.errors import ImageNotFound  # noqa: PLC0415

    try:
        return str(client.images.get(name).id)
    except ImageNotFound:
        return None


def image_exists(client: DockerClient, name: str) -> bool:
    return image_id(client, name) is not None


def make_client(client: DockerClient, timeout: float) -> DockerClient:
    import docker  # noqa: PLC0415

    return docker.from_env(timeout=timeout, version=client.api.api_version)  # type: ignore[arg-type]


def try_pull(client: DockerClient, name: str, log: Log) -> bool:
    """Pull ``name`` when a registry answers within PULL_PROBE_TIMEOUT; False when none does."""
    from docker.utils import parse_repository_tag  # noqa: PLC0415

    probe = make_client(client, PULL_PROBE_TIMEOUT)
    try:
        probe.images.get_registry_data(name)
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        log(f"docker: {name} cannot be pulled here ({first[:160]})")
        return False
    finally:
        probe.close()
    repository, tag = parse_repository_tag(name)
    log(f"docker: pulling {name}")
    puller = make_client(client, PULL_TIMEOUT)
    start = time.monotonic()
    next_note = start + PROGRESS_EVERY
    try:
        for event in puller.api.pull(repository, tag or "latest", stream=True, decode=True):
            if "error" in event:
                log(f"docker: pull of {name} failed: {event['error']}")
                return False
            now = time.monotonic()
            if now - start > PULL_TIMEOUT:
                log(f"docker: pull of {name} took over {PULL_TIMEOUT:g}s; giving up")
                return False
            if now >= next_note:
                log(f"docker: pulling {name}: {event.get('status', '')} ({now - start:.0f}s)")
                next_note = now + PROGRESS_EVERY
    except Exception as exc:
        log(f"docker: pull of {name} failed: {exc}")
        return False
    finally:
        puller.close()
    return image_exists(client, name)


def build_debian_base(client: DockerClient, root: Path, log: Log) -> str:
    """mmdebstrap a minimal bookworm with Python into a tarball; import it as DEBIAN_BASE."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise _fail("no base image to build on and no mmdebstrap to make one", MMDEBSTRAP_HINT)
    tarball = root / CACHE_DIR / f"base-{os.getpid()}.tar"
    command = [
        mmdebstrap,
        "--variant=minbase",
        f"--include={','.join(DEBIAN_PACKAGES)}",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--format=tar",
        DEBIAN_SUITE,
        str(tarball),
        DEBIAN_MIRROR,
    ]
    log(
        f"docker: building the local base {DEBIAN_BASE} from Debian's packages with mmdebstrap "
        "(first time only; about 20 s here, longer on a slow mirror)"
    )
    try:
        done = run_command(
            command, timeout=DEBOOTSTRAP_TIMEOUT, log=lambda line: log(f"  mmdebstrap: {line}")
        )
        if done.returncode != 0 or not tarball.is_file():
            why = "timed out" if done.timed_out else f"exit code {done.returncode}"
            raise _fail(f"mmdebstrap could not build the base image ({why})", done.tail())
        log(f"docker: importing {tarball.stat().st_size / 2**20:.0f} MiB as {DEBIAN_BASE}")
        repository, tag = DEBIAN_BASE.rsplit(":", 1)
        importer = make_client(client, IMPORT_TIMEOUT)
        try:
            importer.api.import_image_from_file(
                str(tarball),
                repository=repository,
                tag=tag,
                changes=["ENV LANG=C.UTF-8", 'CMD ["python3"]'],
            )
        finally:
            importer.close()
    finally:
        tarball.unlink(missing_ok=True)
    if not image_exists(client, DEBIAN_BASE):
        raise _fail(f"docker import did not produce {DEBIAN_BASE}")
    return DEBIAN_BASE


def why_no_base(client: DockerClient, wanted: str) -> str | None:
    """Why no base image can be had here (None: one can); for auto's observation, so cheap."""
    if image_exists(client, wanted) or image_exists(client, DEBIAN_BASE):
        return None
    if shutil.which("mmdebstrap"):
        return None
    probe = make_client(client, PULL_CHECK_TIMEOUT)
    try:
        probe.images.get_registry_data(wanted)
    except Exception:
        return (
            f"no base image: {wanted} is not here and cannot be pulled, and mmdebstrap is not "
            f"installed to make {DEBIAN_BASE}. {MMDEBSTRAP_HINT}"
        )
    finally:
        probe.close()
    return None


def resolve_base_image(client: DockerClient, wanted: str, root: Path, log: Log) -> str:
    """The image to build on: ``wanted`` if it can be had, else the local Debian base."""
    if image_exists(client, wanted):
        return wanted
    if image_exists(client, DEBIAN_BASE):
        log(
            f"docker: {wanted} is not here; building on {DEBIAN_BASE} (made from Debian's "
            f"packages; `docker pull {wanted}` to build on it instead)"
        )
        return DEBIAN_BASE
    if try_pull(client, wanted, log):
        return wanted
    return build_debian_base(client, root, log)
