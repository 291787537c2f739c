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
