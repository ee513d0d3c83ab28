"""Headless Chromium over the DevTools protocol, and a PNG reader: a page as a person sees it.

``visit`` starts ``chromium --headless=new`` on a throwaway profile, opens one URL, and returns
what a person (and the console) would have seen: every console message, exception and log
entry of level error, every URL the page asked for, the values of some DOM expressions, and a
screenshot. Every wait is bounded. ``read_png`` decodes the screenshot with zlib and struct
(filters undone), so a test can tell a blank page from a drawn one without an image library.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_TIMEOUT = 30.0  # seconds from spawn to the DevTools port (a cold start on a busy machine)
STEP_TIMEOUT = 30.0  # seconds for any one DevTools answer or the page's load event
STOP_TIMEOUT = 10.0


def find_chromium() -> str | None:
    """The first Chromium on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Visit:
    """What one page load showed and said."""

    errors: list[str] = field(default_factory=list)  # console errors, exceptions, error logs
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    values: dict[str, Any] = field(default_factory=dict)  # expression -> its value
    png: bytes = b""


class _Session:
    """One DevTools connection: numbered commands, and the events read alongside."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.loaded = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
                continue
            self.events.append(message)
            if message.get("method") == "Page.loadEventFired":
                self.loaded.set()
            if message.get("method") == "Page.javascriptDialogOpening":  # a script ran: close it
                self.tasks.add(
                    asyncio.create_task(
                        self.call("Page.handleJavaScriptDialog", message["sessionId"], accept=True)
                    )
                )

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        command: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        await self.socket.send(json.dumps(command))
        answer = await asyncio.wait_for(future, STEP_TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"DevTools {method}: {answer['error']}")
        return answer.get("result", {})


def _wait_for_port(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """The browser's DevTools websocket path, from the file Chromium writes when it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode} before listening")
        with contextlib.suppress(OSError):
            lines = marker.read_text().split()
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    raise RuntimeError(f"chromium did not open its DevTools port within {START_TIMEOUT:g}s")


def _error_text(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
        return "console: " + " ".join(
            str(a.get("value", a.get("description"))) for a in params["args"]
        )
    if method == "Page.javascriptDialogOpening":
        return f"dialog: {params.get('type')} {params.get('message')!r}"
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        thrown = details.get("exception", {}).get("description", "")
        return f"exception: {details.get('text')} {thrown}".strip()
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return f"log: {entry.get('text')} {entry.get('url', '')}".strip()
    return None


async def _drive(
    ws_url: str, url: str, width: int, height: int, expressions: list[str], shot: dict[str, Any]
) -> Visit:
    async with connect(ws_url, max_size=None, open_timeout=STEP_TIMEOUT) as socket:
        cdp = _Session(socket)
        reader = asyncio.create_task(cdp.read())
        try:
            target = await cdp.call("Target.createTarget", url="about:blank")
            attached = await cdp.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            page = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                await cdp.call(f"{domain}.enable", page)
            await cdp.call(
                "Emulation.setDeviceMetricsOverride",
                page,
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            cdp.loaded.clear()
            await cdp.call("Page.navigate", page, url=url)
            await asyncio.wait_for(cdp.loaded.wait(), STEP_TIMEOUT)
            # the load event of *this* document, then two frames so that it is painted
            painted = (
                "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => "
                "done([document.readyState, location.href]))))"
            )
            state = await cdp.call(
                "Runtime.evaluate", page, expression=painted, awaitPromise=True, returnByValue=True
            )
            if state.get("result", {}).get("value") != ["complete", url]:
                raise RuntimeError(f"page not loaded: {state}")
            visit = Visit()
            for expression in expressions:
                result = await cdp.call(
                    "Runtime.evaluate", page, expression=expression, returnByValue=True
                )
                visit.values[expression] = result.get("result", {}).get("value")
            picture = await cdp.call(
                "Page.captureScreenshot",
                page,
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "width": width, "height": height, **shot},
            )
            visit.png = base64.b64decode(picture["data"])
            for event in cdp.events:
                params = event.get("params", {})
                if event.get("method") == "Network.requestWillBeSent":
                    visit.requests.append(params["request"]["url"])
                if (text := _error_text(event)) is not None:
                    visit.errors.append(text)
            return visit
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


def visit(
    chromium: str,
    url: str,
    *,
    width: int = 1280,
    height: int = 1600,
    expressions: list[str] | None = None,
    top: int = 0,
    scale: float = 1.0,
) -> Visit:
    """Open `url` in a fresh headless Chromium and report what it showed (bounded throughout).

    The screenshot shows `width` x `height` CSS pixels from `top` down, scaled by `scale`.
    """
    with tempfile.TemporaryDirectory(prefix="mc-chromium-") as home:
        profile = Path(home)
        command = [
            chromium,
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile / 'profile'}",
            "about:blank",
        ]
        with (profile / "stderr.log").open("wb") as stderr:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "HOME": home},
                start_new_session=True,
            )
        try:
            ws_url = _wait_for_port(profile / "profile", process)
            shot = {"y": top, "scale": scale}
            return asyncio.run(_drive(ws_url, url, width, height, expressions or [], shot))
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill Chromium and every helper it started (its own process group: nothing else), and
    wait until none is alive, so that nothing still writes the profile as it is removed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive_in_group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _alive_in_group(group: int) -> bool:
    """Whether a process of `group` still runs (zombies, which write nothing, do not count)."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == group:
                return True
    return False


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    pixels: list[bytes]  # one row each, 3 bytes (RGB) per pixel

    def colors(self, top: int = 0, bottom: int | None = None) -> Counter[bytes]:
        """How many pixels of each colour, in rows top..bottom."""
        counts: Counter[bytes] = Counter()
        for row in self.pixels[top:bottom]:
            counts.update(row[i : i + 3] for i in range(0, len(row), 3))
        return counts


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(data: bytes) -> Picture:
    """An 8-bit RGB or RGBA PNG (what Chromium writes) as rows of RGB pixels."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    if depth != 8 or color not in (2, 6):
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {color}")
    size = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * size
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride if kind else 0):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - size] if i >= size else 0
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        previous = bytearray(line)
        if size == 4:
            del line[3::4]  # alpha
        rows.append(bytes(line))
    return Picture(width, height, rows)


def write_png(picture: Picture) -> bytes:
    """`picture` as an RGB PNG, unfiltered and deflated at level 9: for a page of flat colours
    that is about a fifth smaller than what Chromium writes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", picture.width, picture.height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + row for row in picture.pixels)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
