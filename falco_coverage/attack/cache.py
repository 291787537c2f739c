"""On-disk cache: downloaded bundles (with where each came from) and parsed ATT&CK frames by SHA-256.

A frames entry is ``MAGIC + sha256(payload) + payload`` where the payload is JSON (never a pickle:
whoever can write the cache directory must not be able to run code as its reader): the
frames column by column, and the facts the bundle states about itself (domain, version). It never
holds where the bundle was loaded from or which version was asked for: :func:`falco_coverage.attack.load_attack`
decides those for each load. Its name carries the cache format, so a format change simply misses.
Anything that does not verify (truncated, altered, wrong key) is deleted and rebuilt, never used;
where it cannot be deleted (a read-only cache) the load goes on without the cache and says so once.

Each bundle has three entries: ``core`` (tactics, techniques), ``detection`` (ATT&CK's detection
model) and ``text`` (the techniques' words, for suggestions); the last two are read only when an
analysis asks for them. Analyses may store what they derive from a bundle beside its frames
(:func:`read_derived`, :func:`write_derived`: a JSON document and raw numeric arrays, checksummed):
suggestions keep their fitted text index there. Columns whose values repeat are stored as distinct
values and codes, which halves the bytes and the decoding time.

``frames/digests/`` records, per bundle path, the SHA-256 of the content with the file's stamp
(device, inode, size, modification and status-change times in nanoseconds): while the stamp is the
same, a warm load reads no bundle bytes at all. Any write to the file changes its status-change time,
which no user can set back, so a changed bundle is always hashed again.

Each downloaded bundle has a ``<name>.provenance.json`` beside it: the URL, the SHA-256 and what it
was verified against.
"""

from __future__ import annotations

import hashlib
import warnings
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..fsutil import atomic_write, cache_dir

CACHE_FORMAT = 7
#: the bundle parser's revision: a parse cached by an earlier one (which may have let a malformed bundle
#: through) is not used; the entries' own format stays the same (the built-in snapshots share it)
PARSE_REVISION = 2
#: what a frames entry holds
ENTRY_KEYS = ("tactics", "techniques", "technique_tactics", "domain", "sha256", "bundle_version", "spec_version")
#: an entry kind -> its frames. ``detection`` (ATT&CK's detection model) is a second entry beside the
#: first, read only when an analysis asks for it, so loading ATT&CK costs no more without it
_KINDS = {"core": ("tactics", "techniques", "technique_tactics"),
          "detection": ("detection_strategies", "analytics", "data_components", "detections"),
          "text": ("technique_text",)}
_MAGIC = b"falco-coverage-frames\n"


class CacheWarning(UserWarning):
    """The cache could not be used as it should (read-only, corrupt); the load went on without it."""


def bundles_dir() -> Path:
    return cache_dir() / "bundles"


def _frames_path(sha256: str, kind: str = "core") -> Path:
    tail = "" if kind == "core" else f".{kind}"
    return cache_dir() / "frames" / f"{sha256}.v{CACHE_FORMAT}r{PARSE_REVISION}{tail}.json"


def _plain(v: Any) -> Any:
    import pandas as pd

    return None if not isinstance(v, list) and pd.isna(v) else v


def _column(s: Any) -> Any:
    """One column as JSON: a list of values, or ``{"values", "codes"}`` when values repeat (the
    detection tables repeat technique, strategy and log-source names: half the bytes, twice as fast)."""
    import pandas as pd

    if isinstance(s.dtype, pd.CategoricalDtype):
        return {"categories": [str(c) for c in s.cat.categories], "codes": s.cat.codes.tolist()}
    if str(s.dtype).startswith("datetime64"):
        return [None if pd.isna(v) else v.isoformat() for v in s]
    values = [_plain(v) for v in s.tolist()]
    keys = [tuple(v) if isinstance(v, list) else v for v in values]
    distinct = list(dict.fromkeys(keys))
    if len(distinct) > len(keys) // 2:
        return values
    index = {k: i for i, k in enumerate(distinct)}
    return {"values": [list(k) if isinstance(k, tuple) else k for k in distinct], "codes": [index[k] for k in keys]}


def encode_entry(entry: dict[str, Any], kind: str = "core") -> bytes:
    """A frames entry as JSON bytes (frames column by column; categories and datetimes kept). A
    ``detection`` or ``text`` entry holds its frames and the bundle's ``sha256``."""
    import orjson

    frames = {name: {col: _column(entry[name][col]) for col in entry[name].columns} for name in _KINDS[kind]}
    facts = [k for k in ENTRY_KEYS if k not in _KINDS["core"]] if kind == "core" else ["sha256"]
    doc = {"format": CACHE_FORMAT, "kind": kind, "frames": frames, **{k: entry[k] for k in facts}}
    return bytes(orjson.dumps(doc))


def _array(spec: Any, dtype: str) -> Any:
    """A column of :func:`_column` back, built directly in its documented dtype."""
    import numpy as np
    import pandas as pd

    if isinstance(spec, dict) and "categories" in spec:
        return pd.Categorical.from_codes(spec["codes"], categories=spec["categories"], ordered=True)
    if isinstance(spec, dict):
        values = np.empty(len(spec["values"]), dtype=object)
        values[:] = spec["values"]
        column = values[np.asarray(spec["codes"], dtype=np.int64)]
    else:
        column = np.empty(len(spec), dtype=object)
        column[:] = spec
    if dtype == "object":
        return column
    if dtype.startswith("datetime64"):
        return pd.to_datetime(column, utc=True, format="ISO8601").astype(dtype)
    if dtype == "str":
        return pd.array(column, dtype="str")
    return column.astype(dtype)


def decode_entry(payload: bytes, kind: str = "core") -> dict[str, Any]:
    """The frames entry of :func:`encode_entry`'s bytes; ValueError (or KeyError) when they are not one."""
    import orjson
    import pandas as pd

    from ..columns import dtypes

    doc = orjson.loads(payload)
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT or doc.get("kind") != kind:
        raise ValueError("format")
    facts = [k for k in ENTRY_KEYS if k not in _KINDS["core"]] if kind == "core" else ["sha256"]
    entry = {k: doc[k] for k in facts}
    for name in _KINDS[kind]:
        spec = doc["frames"][name]
        types = dtypes(f"attack.{name}")
        entry[name] = pd.DataFrame({col: _array(spec[col], dt) for col, dt in types.items()}, copy=False)
    return entry


def _drop(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        warnings.warn(f"{path}: corrupt cache entry that cannot be removed ({exc.strerror}); ATT&CK is loaded "
                      "without the cache", CacheWarning, stacklevel=3)


def _read_checked(path: Path, decode: Callable[[bytes], Any]) -> Any:
    """``decode`` of the payload of the checksummed entry at ``path``; ``None`` when it is missing, and
    when it is corrupt or ``decode`` refuses it (then the entry is dropped: the caller rebuilds it)."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC)
    payload = blob[head + 32:]
    try:
        if blob[:head] != _MAGIC or hashlib.sha256(payload).digest() != blob[head:head + 32]:
            raise ValueError("checksum")
        return decode(payload)
    except Exception:  # corrupt or from an incompatible build
        _drop(path)
        return None


def _write_checked(path: Path, payload: bytes) -> None:
    atomic_write(path, _MAGIC + hashlib.sha256(payload).digest() + payload)


def read_frames(sha256: str, kind: str = "core") -> dict[str, Any] | None:
    """Cached frames (and bundle facts) of the bundle with this SHA-256, or ``None`` (missing, stale or corrupt)."""
    def decode(payload: bytes) -> dict[str, Any]:
        entry = decode_entry(payload, kind)
        if entry.get("sha256") != sha256:
            raise ValueError("key")
        return entry

    entry: dict[str, Any] | None = _read_checked(_frames_path(sha256, kind), decode)
    return entry


def write_frames(entry: dict[str, Any], kind: str = "core") -> None:
    """Store a frames entry (``core``: the keys of :data:`ENTRY_KEYS`); failure to write is not an error."""
    payload = encode_entry(entry, kind)
    try:
        _write_checked(_frames_path(entry["sha256"], kind), payload)
    except OSError:
        pass


def _derived_path(sha256: str, name: str) -> Path:
    return cache_dir() / "frames" / f"{sha256}.v{CACHE_FORMAT}.{name}.bin"


#: the array types a derived entry may hold (nothing else is read back)
_ARRAY_DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4"})


def read_derived(sha256: str, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What an analysis derived from the bundle with this SHA-256 and stored under ``name``: its JSON
    document and its numeric arrays (read-only numpy views), or ``None`` (missing or corrupt: then
    dropped). Checksummed like a frames entry; the arrays are raw little-endian numbers, never objects."""
    import numpy as np
    import orjson

    def decode(payload: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        size = int.from_bytes(payload[:8], "little")
        head = orjson.loads(payload[8:8 + size])
        if not isinstance(head, dict) or not isinstance(head.get("doc"), dict):
            raise ValueError("not an entry")
        base, arrays = 8 + size, {}
        for key, dtype, count, offset in head["arrays"]:
            if dtype not in _ARRAY_DTYPES or count < 0 or offset < 0 or \
                    base + offset + count * np.dtype(dtype).itemsize > len(payload):
                raise ValueError("array out of bounds")
            arrays[str(key)] = np.frombuffer(payload, dtype=dtype, count=count, offset=base + offset)
        return head["doc"], arrays

    entry: tuple[dict[str, Any], dict[str, Any]] | None = _read_checked(_derived_path(sha256, name), decode)
    return entry


def write_derived(sha256: str, name: str, doc: dict[str, Any], arrays: dict[str, Any] | None = None, *,
                  keep: int | None = None) -> None:
    """Store ``doc`` (JSON) and ``arrays`` (1-d numpy arrays of :data:`_ARRAY_DTYPES`) for
    :func:`read_derived`; failure to write is not an error. With ``keep``, only the ``keep`` newest
    entries of the same family (``name`` up to its last ``-``) stay."""
    import numpy as np
    import orjson

    specs, blobs, offset = [], [], 0
    for key, array in (arrays or {}).items():
        raw = np.ascontiguousarray(array)
        dtype = raw.dtype.newbyteorder("<").str if raw.dtype.byteorder != "|" else raw.dtype.str
        blob = raw.astype(dtype, copy=False).tobytes()
        specs.append([key, dtype, int(raw.size), offset])
        blobs.append(blob)
        offset += len(blob)
    head = orjson.dumps({"doc": doc, "arrays": specs}, option=orjson.OPT_SERIALIZE_NUMPY)
    path = _derived_path(sha256, name)
    try:
        _write_checked(path, len(head).to_bytes(8, "little") + head + b"".join(blobs))
        if keep is not None:
            family = sorted(path.parent.glob(f"{sha256}.v{CACHE_FORMAT}.{name.rsplit('-', 1)[0]}-*.bin"),
                            key=lambda p: p.stat().st_mtime_ns, reverse=True)
            for old in family[keep:]:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def stamp(path: Path) -> list[int] | None:
    """What changes whenever a file's content does: device, inode, size, and the modification and
    status-change times in nanoseconds (the status-change time cannot be set back by a user)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _digest_path(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / "frames" / "digests" / f"{key}.json"


def known_digest(path: Path) -> str | None:
    """The SHA-256 recorded for ``path`` when the file is unchanged since (same stamp), else ``None``:
    a warm load need not read and hash a 40 MB bundle again."""
    import orjson

    try:
        doc = orjson.loads(_digest_path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    now = stamp(path)
    if not isinstance(doc, dict) or now is None or doc.get("stamp") != now or doc.get("path") != str(path.resolve()):
        return None
    digest = doc.get("sha256")
    return digest if isinstance(digest, str) and len(digest) == 64 else None


def remember_digest(path: Path, before: list[int] | None, digest: str) -> None:
    """Record ``digest`` for ``path``, if the file still has the stamp it had ``before`` it was read."""
    import orjson

    if before is None or stamp(path) != before:
        return
    try:
        atomic_write(_digest_path(path), orjson.dumps({"path": str(path.resolve()), "stamp": before,
                                                       "sha256": digest}))
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
