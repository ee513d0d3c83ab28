"""The settings' rules beyond one value's text: reading the files they name, and rules between keys.

They work on the parsed values by key (``values``) and where each came from (``sources``), so
they sit below ``tasks.settings`` and know nothing of its layers.

    read_file(path, shown)              rule 1: a readable, regular UTF-8 text file, or FileError
    read_ca_bundle(value, where, root)  rule 1 for STAGING_CA_BUNDLE, plus: it holds a PEM CA
    check_together(values, sources, root)  rule 4: the rules between keys (NOT_ABOVE, plain ws,
                                        MC_LOCAL_CWD / _SECRET_ENV only with MC_LOCAL_COMMAND);
                                        rule 1 for the dialect MC_CONTRACT names (a malformed
                                        one names its file and key)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract.dialect import DialectError, load_dialect
from contract.files import FileError, read_text_file
from tasks.settings.addresses import is_loopback
from tasks.settings.errors import SettingsError
from tasks.settings.quoting import quote
from tasks.settings.values import render

# Rules between two numbers: the first may not exceed the second (and why).
NOT_ABOVE: tuple[tuple[str, str, str], ...] = (
    ("MC_GRACE", "MC_TIMEOUT", "the suite's grace period after the last run is one wait at most"),
    ("MC_TIMEOUT", "MC_RUN_TIMEOUT", "one wait of a run cannot outlast the whole run"),
    *(
        (f"MC_LATENCY_{metric}_P95", "MC_RUN_TIMEOUT", "no run may take longer than its bound")
        for metric in ("STARTED", "THINKING", "COMPLETED")
    ),
)
PLAIN_WS = (
    "plain ws:// to {host} would send tokens unencrypted; use wss:// "
    "or set STAGING_ALLOW_INSECURE_WS=true"
)
NO_CA = "{shown} holds no PEM CA certificate (-----BEGIN CERTIFICATE----- ...)"
FOR_THE_COMMAND = (
    "is for the team's command (MC_LOCAL_COMMAND), which is not set: the reference backend "
    "would ignore it; set MC_LOCAL_COMMAND, or unset this"
)
SHAPE_UNSPOKEN = (
    "{shape} puts event fields where the {dialect} dialect does not read them (it reads {where});"
    " use flat, or a dialect with that container"
)


def read_file(path: Path, shown: str) -> str | None:
    """The text of a file the harness was told to read; None when there is nothing there."""
    if not os.path.lexists(path):
        return None
    # os.path's tests never raise; Path's do, on a folder we may not look into
    if os.path.islink(path) and not os.path.exists(path):  # noqa: PTH110, PTH114
        raise FileError(shown, "is a broken symbolic link (it points at nothing)")
    return read_text_file(path, shown=shown)


def read_ca_bundle(value: str | None, where: str, root: Path) -> str | None:
    """The text of STAGING_CA_BUNDLE (a PEM file of CA certificates), or None when unset."""
    import ssl  # noqa: PLC0415 - only when a bundle is named

    if not value:
        return None
    shown = quote(value)
    try:
        text = read_file(root / value, value)
    except FileError as exc:
        raise SettingsError(where, "STAGING_CA_BUNDLE", f"{shown}: {exc.problem}") from None
    if text is None:
        raise SettingsError(where, "STAGING_CA_BUNDLE", f"{shown}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with contextlib.suppress(ssl.SSLError, ValueError):  # then it holds none: said below
        context.load_verify_locations(cadata=text)
    if not context.cert_store_stats()["x509_ca"]:
        raise SettingsError(where, "STAGING_CA_BUNDLE", NO_CA.format(shown=shown))
    return text


def _layer(where: str) -> int:
    """How far up the layers a value came from (a rule between two keys blames the later one)."""
    if where.startswith("environment variable"):
        return 3
    if where.startswith("file .env,"):
        return 2
    return 1 if where.startswith("file ") else 0


def _check_not_above(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    for low_key, high_key, why in NOT_ABOVE:
        low, high = values[low_key], values[high_key]
        if low is None or low <= high:  # an optional setting left unset
            continue
        low_at, high_at = sources[low_key], sources[high_key]
        fix = f"raise {high_key} or lower {low_key}"
        if _layer(high_at) > _layer(low_at):
            problem = f"{render(high)} is less than {low_key}={render(low)} ({low_at})"
            raise SettingsError(high_at, high_key, f"{problem}: {why}; {fix}")
        problem = f"{render(low)} is more than {high_key}={render(high)} ({high_at})"
        raise SettingsError(low_at, low_key, f"{problem}: {why}; {fix}")


def _check_local_command(values: Mapping[str, Any], sources: Mapping[str, str], root: Path) -> None:
    """MC_LOCAL_CWD and MC_LOCAL_SECRET_ENV go with MC_LOCAL_COMMAND; the folder must be one."""
    for key in ("MC_LOCAL_CWD", "MC_LOCAL_SECRET_ENV"):
        if values[key] is not None and not values["MC_LOCAL_COMMAND"]:
            raise SettingsError(sources[key], key, FOR_THE_COMMAND)
    cwd = values["MC_LOCAL_CWD"]
    if cwd is None:
        return
    folder = root / cwd
    if not folder.is_dir():
        why = "is not a folder" if os.path.lexists(folder) else "no such folder"
        raise SettingsError(sources["MC_LOCAL_CWD"], "MC_LOCAL_CWD", f"{quote(str(cwd))}: {why}")


def check_together(values: Mapping[str, Any], sources: Mapping[str, str], root: Path) -> None:
    """Rules that span keys, or that look beyond a key's own text."""
    _check_not_above(values, sources)
    _check_local_command(values, sources, root)
    ws = values["STAGING_WEBSOCKET_URL"]
    if ws and ws.startswith("ws://") and not values["STAGING_ALLOW_INSECURE_WS"]:
        host = urlsplit(ws).hostname or ""
        if not is_loopback(host):
            where = sources["STAGING_WEBSOCKET_URL"]
            raise SettingsError(where, "STAGING_WEBSOCKET_URL", PLAIN_WS.format(host=host))
    read_ca_bundle(values["STAGING_CA_BUNDLE"], sources["STAGING_CA_BUNDLE"], root)
    try:
        dialect = load_dialect(values["MC_CONTRACT"], root=root)
    except DialectError as exc:
        raise SettingsError(sources["MC_CONTRACT"], "MC_CONTRACT", str(exc)) from None
    shape = values["MC_EVENT_SHAPE"]
    if shape != "flat" and shape not in dialect.event_containers:
        where = ", ".join(dialect.event_containers) or "the top level only"
        problem = SHAPE_UNSPOKEN.format(shape=shape, dialect=dialect.name, where=where)
        raise SettingsError(sources["MC_EVENT_SHAPE"], "MC_EVENT_SHAPE", problem)
