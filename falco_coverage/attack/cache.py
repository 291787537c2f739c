"""On-disk cache: downloaded bundles and parsed ATT&CK frames keyed by the bundle's SHA-256.

A frames entry is ``MAGIC + sha256(payload) + payload`` where the payload is a pickle of a plain dict:
the three frames and the facts the bundle states about itself (domain, version). It never holds
where the bundle was loaded from or which version was asked for: :func:`falco_coverage.attack.load`
decides those for each load.
Its name carries the cache format and the pandas version, so a parser or pandas change simply misses.
Anything that does not verify (truncated, altered, wrong key) is deleted and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write

CACHE_FORMAT = 3
#: what a frames entry holds
ENTRY_KEYS = ("tactics", "techniques", "technique_tactics", "domain", "sha256", "bundle_version")
_MAGIC = b"falco-coverage-frames\n"


def cache_dir() -> Path:
    """``$FALCO_COVERAGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/falco-coverage``, else ``~/.cache/falco-coverage``."""
    if os.environ.get("FALCO_COVERAGE_CACHE_DIR"):
        return Path(os.environ["FALCO_COVERAGE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "falco-coverage"


def bundles_dir() -> Path:
    return cache_dir() / "bundles"


def _frames_path(sha256: str) -> Path:
    import pandas as pd

    return cache_dir() / "frames" / f"{sha256}.v{CACHE_FORMAT}.pd{pd.__version__}.pkl"


def read_frames(sha256: str) -> dict[str, Any] | None:
    """Cached frames (and bundle facts) of the bundle with this SHA-256, or ``None`` (missing, stale or corrupt)."""
    path = _frames_path(sha256)
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC)
    payload = blob[head + 32:]
    try:
        if blob[:head] != _MAGIC or hashlib.sha256(payload).digest() != blob[head:head + 32]:
            raise ValueError("checksum")
        entry = pickle.loads(payload)  # noqa: S301 - our own file, verified by checksum above
        if not isinstance(entry, dict) or entry.get("sha256") != sha256 or set(entry) != set(ENTRY_KEYS):
            raise ValueError("key")
    except Exception:  # corrupt or from an incompatible build: drop it, the caller rebuilds
        path.unlink(missing_ok=True)
        return None
    return entry


def write_frames(entry: dict[str, Any]) -> None:
    """Store a frames entry (the keys of :data:`ENTRY_KEYS`); failure to write is not an error."""
    payload = pickle.dumps({k: entry[k] for k in ENTRY_KEYS}, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        atomic_write(_frames_path(entry["sha256"]), _MAGIC + hashlib.sha256(payload).digest() + payload)
    except OSError:
        pass
