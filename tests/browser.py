"""Headless Chromium for the report tests: load a page with every network request refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # no network at all: every host resolves to nothing and any proxy use fails
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
         "--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw"]


def chromium() -> str:
    """The browser binary; tests skip without it locally and fail in CI (.ci/run installs it)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run must install it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return exe


def dump_dom(page: Path) -> str:
    """The DOM after the page's scripts ran (offline), serialised."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
                             capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def inspect_pages(pages: list[Path], shots: Path, width: int = 1400) -> dict[str, dict[str, object]]:
    """Open each page in headless Chromium (Playwright) at ``width`` px with every request logged.

    Per page: its title, ``scrollWidth``, the requests that were not ``file:``/``data:``/``blob:``, the
    visible text, how many elements offer an upload (plotly's cloud/edit buttons, the plotly logo link)
    against how many modebar buttons exist at all, the tactic headers of the matrix that lie outside
    the window, and a full-page screenshot written to ``shots``.
    """
    pytest.importorskip("playwright", reason="pip install playwright (a dev dependency)")
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, object]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            for page_path in pages:
                context = browser.new_context(viewport={"width": width, "height": 900})
                requests: list[str] = []
                context.on("request", lambda r, log=requests: log.append(r.url))
                page = context.new_page()
                page.goto(page_path.resolve().as_uri())
                page.wait_for_timeout(1500)
                outside = page.evaluate("""(w) => Array.from(document.querySelectorAll('.js-plotly-plot .xtick text,'
                    + '.js-plotly-plot .annotation-text')).filter(e => e.getBoundingClientRect().right > w)
                    .map(e => e.textContent)""", width)
                shot = shots / f"{page_path.stem}-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                out[page_path.name] = {
                    "title": page.title(),
                    "scroll_width": page.evaluate("document.documentElement.scrollWidth"),
                    "external": [u for u in requests if not u.startswith(("file:", "data:", "blob:"))],
                    "text": page.inner_text("body"),
                    "uploads": page.locator("[data-title*='Share'], [data-title*='Edit in'], [data-title*='Cloud'],"
                                            " a.modebar-btn--logo").count(),
                    "modebar_buttons": page.locator(".modebar-btn").count(),
                    "outside": outside,
                    "screenshot": shot,
                }
                context.close()
        finally:
            browser.close()
    return out
