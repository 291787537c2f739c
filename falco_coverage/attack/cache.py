"""On-disk cache: downloaded bundles (with where each came from) and parsed ATT&CK frames by SHA-256.

A frames entry is ``MAGIC + sha256(payload) + payload`` where the payload is JSON (never a pickle:
whoever can write the cache directory must not be able to run code as its reader): the three
frames column by column, and the facts the bundle states about itself (domain, version). It never
holds where the bundle was loaded from or which version was asked for: :func:`falco_coverage.attack.load_attack`
decides those for each load. Its name carries the cache format, so a format change simply misses.
Anything that does not verify (truncated, altered, wrong key) is deleted and rebuilt, never used;
where it cannot be deleted (a read-only cache) the load goes on without the cache and says so once.

Each downloaded bundle has a ``<name>.provenance.json`` beside it: the URL, the SHA-256 and what it
was verified against.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write

CACHE_FORMAT = 5
#: what a frames entry holds
ENTRY_KEYS = ("tactics", "techniques", "technique_tactics", "domain", "sha256", "bundle_version", "spec_version")
_FRAMES = ("tactics", "techniques", "technique_tactics")
_MAGIC = b"falco-coverage-frames\n"


class CacheWarning(UserWarning):
    """The cache could not be used as it should (read-only, corrupt); the load went on without it."""


def cache_dir() -> Path:
    """``$FALCO_COVERAGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/falco-coverage``, else ``~/.cache/falco-coverage``."""
    if os.environ.get("FALCO_COVERAGE_CACHE_DIR"):
        return Path(os.environ["FALCO_COVERAGE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "falco-coverage"


def bundles_dir() -> Path:
    return cache_dir() / "bundles"


def _frames_path(sha256: str) -> Path:
    return cache_dir() / "frames" / f"{sha256}.v{CACHE_FORMAT}.json"


def encode_entry(entry: dict[str, Any]) -> bytes:
    """A frames entry as JSON bytes (frames column by column; categories and datetimes kept)."""
    import orjson
    import pandas as pd

    frames: dict[str, Any] = {}
    for name in _FRAMES:
        df: pd.DataFrame = entry[name]
        cols: dict[str, Any] = {}
        cats: dict[str, list[str]] = {}
        for col in df.columns:
            s = df[col]
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats[col] = [str(c) for c in s.cat.categories]
                cols[col] = [None if pd.isna(v) else str(v) for v in s]
            elif str(s.dtype).startswith("datetime64"):
                cols[col] = [None if pd.isna(v) else v.isoformat() for v in s]
            else:
                cols[col] = [None if not isinstance(v, list) and pd.isna(v) else v for v in s.tolist()]
        frames[name] = {"columns": cols, "categories": cats}
    doc = {"format": CACHE_FORMAT, "frames": frames, **{k: entry[k] for k in ENTRY_KEYS if k not in _FRAMES}}
    return bytes(orjson.dumps(doc))


def decode_entry(payload: bytes) -> dict[str, Any]:
    """The frames entry of :func:`encode_entry`'s bytes; ValueError (or KeyError) when they are not one."""
    import orjson
    import pandas as pd

    from ..columns import conform

    doc = orjson.loads(payload)
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT:
        raise ValueError("format")
    entry = {k: doc[k] for k in ENTRY_KEYS if k not in _FRAMES}
    for name in _FRAMES:
        spec = doc["frames"][name]
        df = pd.DataFrame(spec["columns"])
        for col, categories in spec["categories"].items():
            df[col] = pd.Categorical(df[col], categories=categories, ordered=True)
        entry[name] = conform(df, f"attack.{name}")
    return entry


def _drop(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        warnings.warn(f"{path}: corrupt cache entry that cannot be removed ({exc.strerror}); ATT&CK is loaded "
                      "without the cache", CacheWarning, stacklevel=3)


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
        entry = decode_entry(payload)
        if entry.get("sha256") != sha256:
            raise ValueError("key")
    except Exception:  # corrupt or from an incompatible build: drop it, the caller rebuilds
        _drop(path)
        return None
    return entry


def write_frames(entry: dict[str, Any]) -> None:
    """Store a frames entry (the keys of :data:`ENTRY_KEYS`); failure to write is not an error."""
    payload = encode_entry(entry)
    try:
        atomic_write(_frames_path(entry["sha256"]), _MAGIC + hashlib.sha256(payload).digest() + payload)
    except OSError:
        pass


def provenance_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + ".provenance.json")


def read_provenance(bundle: Path) -> dict[str, Any] | None:
    """Where a cached bundle came from, or ``None`` when nothing was recorded (a file put there by hand)."""
    import orjson

    try:
        doc = orjson.loads(provenance_path(bundle).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def write_provenance(bundle: Path, *, sha256: str, source: str, verified_against: str) -> None:
    """Record where ``bundle`` came from and what its SHA-256 was checked against."""
    import orjson

    doc = {"file": bundle.name, "sha256": sha256, "source": source, "verified_against": verified_against,
           "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        atomic_write(provenance_path(bundle), orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    except OSError:
        pass
