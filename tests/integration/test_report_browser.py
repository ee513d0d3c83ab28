"""The report page in a real browser, as a person opens it: headless Chromium over DevTools.

Each page is opened from disk in a fresh Chromium. It must load nothing but itself, log no
error, run no script, draw something (the screenshot is decoded and its colours counted), show
the verdict in its colour, and (failing runs) show the offending message marked and visible.
The pages come from the hand-written data files (tests/unit/report_data); the end-to-end tests
at the bottom make them with real ``nox`` runs instead.

Where there is no Chromium these tests are skipped, saying so; ``MC_REQUIRE_BROWSER_TESTS=1``
(set by .ci/run, which installs Debian's ``chromium``) turns that skip into a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.browser import Picture, read_png, visit
from tests.integration.report_screenshot import MAX_BYTES, SHOT
from tests.unit.report_pages import FIXTURES, SECRET, TOKEN, render

VERDICT_COLORS = {"passing": (0x1A, 0x7F, 0x37), "other": (0xB4, 0x23, 0x18)}
MARKED_BACKGROUND = "rgb(255, 235, 233)"
MARKED_PIXEL = (255, 235, 233)
MARKED_ROWS = (
    "[...document.querySelectorAll('tr.marked')].map(row => [row.innerText, "
    "row.getBoundingClientRect().height > 0 && row.checkVisibility(), "
    "getComputedStyle(row.cells[1]).backgroundColor])"
)
VERDICT = "document.querySelector('#verdict').innerText"
FOREIGN = "document.querySelectorAll('script, img, iframe, object, embed, link, form').length"


def drawn(picture: Picture) -> bool:
    """Not blank: many colours, and a good share of pixels that are not the background."""
    colors = picture.colors()
    background = colors.most_common(1)[0][1]
    return len(colors) >= 16 and background < 0.97 * picture.width * picture.height


def band_color(picture: Picture) -> tuple[int, ...]:
    """The most common colour of the top rows: the verdict's band."""
    color = picture.colors(2, 12).most_common(1)[0][0]
    return tuple(color)


@pytest.mark.browser
def test_the_browser_check_sees_scripts_errors_and_requests(chromium: str, tmp_path: Path) -> None:
    """The checks below can fail: a page that misbehaves is caught doing so."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<p>x</p><img src=missing.png><script>console.error('boom-1'); alert('hi');"
        "throw new Error('boom-2')</script>"
    )
    seen = visit(chromium, page.as_uri(), expressions=[FOREIGN], width=400, height=300)
    text = "\n".join(seen.errors)
    assert "boom-1" in text
    assert "boom-2" in text
    assert "dialog: alert 'hi'" in text
    assert any(url.endswith("/missing.png") for url in seen.requests)
    assert seen.values[FOREIGN] == 2


@pytest.mark.browser
def test_the_blank_check_can_fail(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><title>nothing</title>")
    picture = read_png(visit(chromium, page.as_uri(), width=400, height=300).png)
    assert (picture.width, picture.height) == (400, 300)
    assert not drawn(picture)


@pytest.mark.browser
@pytest.mark.parametrize("name", FIXTURES)
def test_the_page_opens_clean_draws_its_verdict_and_holds_no_secret(
    chromium: str, tmp_path: Path, name: str
) -> None:
    page = render(name, tmp_path)
    seen = visit(chromium, page.as_uri(), expressions=[VERDICT, FOREIGN], scale=0.5)
    assert seen.errors == []
    assert seen.requests == [page.as_uri()]  # it loads nothing but itself
    assert seen.values[FOREIGN] == 0
    picture = read_png(seen.png)
    assert (picture.width, picture.height) == (640, 800)
    assert drawn(picture)
    expected = VERDICT_COLORS["passing" if name == "passing" else "other"]
    assert band_color(picture) == expected
    assert seen.values[VERDICT].endswith("PASSED" if name == "passing" else "FAILED")
    text = page.read_text()
    for value in (SECRET, TOKEN, TOKEN.split(".")[2]):
        assert value not in text


@pytest.mark.browser
def test_a_failing_page_shows_the_offending_message_marked(chromium: str, tmp_path: Path) -> None:
    page = render("reorder", tmp_path)
    seen = visit(chromium, page.as_uri(), expressions=[MARKED_ROWS])
    rows = seen.values[MARKED_ROWS]
    assert rows, "no marked message on the page"
    text, visible, background = rows[0]
    assert visible  # the first failed check's timeline is open, not folded away
    assert background == MARKED_BACKGROUND
    assert text.split()[:4] == ["\u25b6", "offending", text.split()[2], "agent_thinking"]


def test_the_readme_screenshot_is_a_drawn_failing_page() -> None:
    """docs/report-failing.png (made by tests/integration/report_screenshot.py) stays true."""
    png = SHOT.read_bytes()
    assert len(png) < MAX_BYTES
    picture = read_png(png)
    assert drawn(picture)
    assert band_color(picture) == VERDICT_COLORS["other"]
    marked = picture.colors()[bytes(MARKED_PIXEL)]
    assert marked > 1000, "the screenshot does not reach a marked message"
