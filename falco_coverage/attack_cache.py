"""On-disk cache: downloaded bundles and parsed ATT&CK frames keyed by the bundle's SHA-256.

A frames entry is ``MAGIC + sha256(payload) + payload`` where the payload is a pickle of the frames.
Its name carries the cache format and the pandas version, so a parser or pandas change simply misses.
Anything that does not verify (truncated, altered, wrong key) is deleted and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from .fsutil import atomic_write

if TYPE_CHECKING:
    from .attack import AttackData

CACHE_FORMAT = 2
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


def read_frames(sha256: str) -> AttackData | None:
    """Cached frames of the bundle with this SHA-256, or ``None`` (missing, stale or corrupt)."""
    from .attack import AttackData

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
        fields = pickle.loads(payload)  # noqa: S301 - our own file, verified by checksum above
        data = AttackData(**fields)
        if data.sha256 != sha256:
            raise ValueError("key")
    except Exception:  # corrupt or from an incompatible build: drop it, the caller rebuilds
        path.unlink(missing_ok=True)
        return None
    return data


def write_frames(data: AttackData) -> None:
    """Store ``data``'s frames; failure to write (read-only home, full disk) is not an error."""
    fields = {
        "tactics": data.tactics, "techniques": data.techniques, "technique_tactics": data.technique_tactics,
        "version": data.bundle_version, "domain": data.domain, "sha256": data.sha256,
        "bundle_version": data.bundle_version,
    }
    payload = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        atomic_write(_frames_path(data.sha256 or ""), _MAGIC + hashlib.sha256(payload).digest() + payload)
    except OSError:
        pass
