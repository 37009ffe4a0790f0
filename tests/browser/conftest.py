"""Browser test fixtures: Debian's Chromium driven by Playwright's async API.

Rules kept here:

- The browser is the machine's `/usr/bin/chromium` (Debian's package), never
  one Playwright downloads; when it is missing the browser tests are skipped
  with that reason (CI installs it: `.ci/run`).
- Playwright's async API runs on the test's own event loop, the loop that
  serves the stack's aiohttp servers: a page waiting on the console and the
  console answering it take turns on one loop. pytest-asyncio gives every test
  a fresh loop, and a Playwright connection cannot outlive its loop, so the
  driver and the browser are started per test (about half a second), and
  every test has a fresh context (no cookies, no storage) besides.
- The context's `base_url` is the gateway's URL, which is the stack's public
  URL: the session cookie and the CSRF checks accept only that origin.
- `shoot(page, name)` keeps a full-page screenshot of the page at 1440 and at
  390 px wide, under `$TOLLGATE_SCREENSHOTS` or the run's temporary
  directory's `browser-screenshots/`, one folder per test; the folder is
  printed at the end of the run. A test that shoots must shoot every page its
  tab shows from its first shot on.
- Every shot page is also checked by axe-core (`axe-playwright-python`, which
  carries a pinned `axe.min.js`): a serious or critical violation fails the
  test, naming the page, the rule and the elements.
- A page that logs an error (a script error, a resource that did not load, a
  script or style the Content-Security-Policy refused) fails its test.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Frame,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.console.conftest import ConsoleStack
from tests.console.conftest import console_stack as console_stack  # the console behind a gateway

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE = ViewportSize(width=1440, height=900)
NARROW = ViewportSize(width=390, height=844)
# A step waits at most this long for the page (the console answers on loopback).
STEP_TIMEOUT_MS = 10_000
expect.set_options(timeout=STEP_TIMEOUT_MS)

Shoot = Callable[[Page, str], Awaitable[None]]
_FOLDER = pytest.StashKey[Path]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install chromium")
    for item in items:
        if Path(str(item.path)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def screenshot_folder(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Path:
    chosen = os.environ.get("TOLLGATE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "browser-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    pytestconfig.stash[_FOLDER] = folder.resolve()
    return folder


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    folder = config.stash.get(_FOLDER, None)
    if folder is not None:
        terminalreporter.write_line(f"browser screenshots: {folder}")


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def context(chromium: Browser, console_stack: ConsoleStack) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile opening the console at the stack's public URL."""
    context = await chromium.new_context(
        base_url=console_stack.url, viewport=WIDE, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        yield context
    finally:
        await context.close()


@dataclass
class Visits:
    """What the test's page went through: the paths it showed, the errors it logged."""

    paths: set[str] = field(default_factory=set)  # from the first shot on
    errors: list[str] = field(default_factory=list)
    shot: set[str] = field(default_factory=set)
    inaccessible: list[str] = field(default_factory=list)  # axe's serious and critical findings
    # Origins whose resources may fail to load (an analytics host made unreachable on purpose).
    unreachable: tuple[str, ...] = ()


@pytest.fixture
def visits() -> Visits:
    return Visits()


@pytest.fixture
async def page(context: BrowserContext, visits: Visits) -> AsyncIterator[Page]:
    """The test's tab. A script error or a console error (a resource that did
    not load, a script or style the Content-Security-Policy refused) fails the
    test: the console's pages log none."""
    page = await context.new_page()

    def navigated(frame: Frame) -> None:
        if visits.shot and frame == page.main_frame and frame.url.startswith("http"):
            visits.paths.add(urlsplit(frame.url).path)

    def logged(message: ConsoleMessage) -> None:
        where = message.location.get("url") or page.url
        # A page answered with an error status (a refused sign-in, a 404) logs
        # that status; the test judges the page itself. The browser asks for
        # /favicon.ico on its own; no page refers to it.
        if where.startswith(visits.unreachable) and visits.unreachable:
            return
        if message.type == "error" and where != page.url and urlsplit(where).path != "/favicon.ico":
            visits.errors.append(f"{page.url}: {message.text} ({where})")

    page.on("framenavigated", navigated)
    page.on("console", logged)
    page.on("pageerror", lambda error: visits.errors.append(f"{page.url}: {error}"))
    yield page
    assert visits.errors == [], "the console's pages logged errors"


@pytest.fixture
def shoot(
    screenshot_folder: Path, visits: Visits, request: pytest.FixtureRequest
) -> Iterator[Shoot]:
    """`await shoot(page, "sign-up")`: the page, whole, at both widths. A test
    that shoots must shoot every page (path) its tab showed from its first
    shot on (what comes before is the test setting the scene)."""
    folder = screenshot_folder / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    taken = 0

    async def take(page: Page, name: str) -> None:
        nonlocal taken
        taken += 1
        visits.shot.add(urlsplit(page.url).path)
        size = page.viewport_size or WIDE
        for width in (WIDE, NARROW):
            await page.set_viewport_size(width)
            path = folder / f"{taken:02d}-{name}-{width['width']}.png"
            await page.screenshot(path=path, full_page=True, animations="disabled")
        await page.set_viewport_size(size)
        visits.inaccessible.extend(await accessibility_findings(page, name))

    yield take
    unshot = visits.paths - visits.shot
    assert not unshot, f"pages shown but never shot: {sorted(unshot)}"
    assert not visits.inaccessible, "axe-core: " + "; ".join(visits.inaccessible)


_AXE = Axe()
SERIOUS = ("serious", "critical")


async def accessibility_findings(page: Page, name: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands."""
    results = await _AXE.run(page)
    found = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") in SERIOUS:
            targets = [
                " ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])
            ][:5]
            found.append(f"{name} ({urlsplit(page.url).path}): {violation['id']} on {targets}")
    return found
