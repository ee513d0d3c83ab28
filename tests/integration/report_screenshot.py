"""Write docs/report-failing.png: the page of a failing run, as headless Chromium draws it.

The run is the hand-written ``reorder`` data file (the reference backend with ``--fault reorder``),
so the picture shows what the README promises: the verdict, the failed checks first, and the
first timeline with its offending message marked. Re-make it after changing the page:

    python -m tests.integration.report_screenshot
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.integration.browser import find_chromium, read_png, visit, write_png
from tests.unit.report_pages import render

ROOT = Path(__file__).resolve().parents[2]
SHOT = ROOT / "docs" / "report-failing.png"
WIDTH, HEIGHT, SCALE = 1280, 1790, 0.7  # CSS pixels from the top, drawn at 896 x 1253
MAX_BYTES = 200_000


def take_screenshot(chromium: str) -> bytes:
    """The PNG of the reorder fixture's page, top down."""
    with tempfile.TemporaryDirectory(prefix="mc-report-shot-") as directory:
        page = render("reorder", Path(directory))
        shot = visit(chromium, page.as_uri(), width=WIDTH, height=HEIGHT, scale=SCALE).png
    return write_png(read_png(shot))


def main() -> int:
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    png = take_screenshot(chromium)
    if len(png) > MAX_BYTES:
        print(f"the screenshot is {len(png):,} bytes, over {MAX_BYTES:,}", file=sys.stderr)
        return 1
    SHOT.write_bytes(png)
    print(f"wrote {SHOT.relative_to(ROOT)} ({len(png):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
