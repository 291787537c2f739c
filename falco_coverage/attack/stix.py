"""Parse a STIX 2.0/2.1 ATT&CK bundle into DataFrames, in one pass over its objects.

Tactics come in the matrix's order; techniques carry their tactics, platforms, parent, revoked
and deprecated flags, the end of their revoked-by chain, and how many active groups and software
use them. Column meanings and dtypes: :mod:`falco_coverage.columns`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..budgets import read_regular
from ..columns import columns, conform
from ..errors import AttackFormatError
from ..versions import version_key
from .detection import DETECTION_KINDS, DetectionObjects
from .model import AttackData, active_mask
from .props import active as _active
from .props import items as _items
from .props import mitre_ref as _mitre_ref
from .props import text as _text
from .text import TextObjects

#: A bundle may not be larger than this, inflated (a real enterprise bundle is ~50 MB)...
MAX_BUNDLE_BYTES = 256 << 20
#: ...nor hold more JSON objects than this (a real one holds ~0.5 million, nested ones included)
MAX_BUNDLE_OBJECTS = 10_000_000
_VERSION_IN_NAME = re.compile(r"(?:attack|^v?)[-_]?v?(\d+\.\d+(?:\.\d+)?)(?:\.json)?(?:\.gz)?$")


def read_bundle_bytes(path: Path) -> bytes:
    """Bytes of a ``.json`` or ``.json.gz`` bundle (inflated), read under a byte budget, with one-line errors."""
    raw = read_regular(path, MAX_BUNDLE_BYTES, AttackFormatError)
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                raw = gz.read(MAX_BUNDLE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise AttackFormatError(f"corrupt gzip data: {exc}", file=path) from None
        if len(raw) > MAX_BUNDLE_BYTES:
            raise AttackFormatError(f"inflates past {MAX_BUNDLE_BYTES >> 20} MiB; not an ATT&CK bundle", file=path)
    if raw.count(b"{") > MAX_BUNDLE_OBJECTS:
        raise AttackFormatError(f"holds more than {MAX_BUNDLE_OBJECTS:,} JSON objects; not an ATT&CK bundle",
                                file=path)
    return raw


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _decode(raw: bytes, path: Path | None) -> Any:
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = exc.msg if hasattr(exc, "msg") else str(exc)
        raise AttackFormatError(
            f"not valid JSON ({reason}, column {exc.colno}); truncated or not a STIX bundle",
            file=path, line=exc.lineno,
        ) from None


def version_from_name(path: Path | str | None) -> str | None:
    """``enterprise-attack-18.1.json`` -> ``18.1``; ``None`` when the name carries no version."""
    if path is None:
        return None
    m = _VERSION_IN_NAME.search(Path(path).name)
    return m.group(1) if m else None


def parse_bundle(
    raw: bytes, *, path: Path | None = None, domain: str = "enterprise-attack", sha256: str | None = None
) -> AttackData:
    """Parse the bytes of a STIX bundle into :class:`AttackData` (one pass over the objects)."""
    entry = parse_frames(raw, path=path, domain=domain, sha256=sha256)
    version = entry["bundle_version"] or version_from_name(path)
    return AttackData(**entry, version=version, source_path=str(path) if path else None, use_cache=False)


def parse_frames(
    raw: bytes, *, path: Path | None = None, domain: str = "enterprise-attack", sha256: str | None = None
) -> dict[str, Any]:
    """The frames of a STIX bundle and the facts it states about itself (what the cache stores), and
    ``detection_loader`` and ``text_loader``, which build the detection model's frames and the
    techniques' text when first asked for.

    A bundle is untrusted input: every property is type-checked where it is read, and anything that
    still does not fit is an :class:`AttackFormatError` naming the file, never a crash.
    """
    try:
        return _parse_frames(raw, path, domain, sha256)
    except AttackFormatError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise AttackFormatError(f"malformed STIX bundle ({type(exc).__name__}: {exc})", file=path) from None


def _guarded(build: Callable[[], Any], path: Path | None) -> Any:
    """``build()``, with anything a malformed bundle makes it raise reported as an AttackFormatError."""
    try:
        return build()
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise AttackFormatError(f"malformed ATT&CK objects ({type(exc).__name__}: {exc})", file=path) from None


class _Gathered:
    """What one pass over a bundle's objects keeps, by kind."""

    def __init__(self) -> None:
        self.tactics: dict[str, dict] = {}
        self.matrices: list[dict] = []
        self.patterns: list[dict] = []
        self.status: dict[str, bool] = {}  # stix id -> active, for groups, software, campaigns
        self.revoked_by: dict[str, str] = {}
        self.parent_of: dict[str, str] = {}
        self.uses: list[tuple[str, str]] = []
        self.attributed: list[tuple[str, str]] = []
        self.collection_version: str | None = None
        self.spec_version: str | None = None
        self.detection = DetectionObjects()
        self.words = TextObjects()

    def add(self, obj: dict) -> None:
        kind = obj.get("type")
        if kind == "attack-pattern":
            self.patterns.append(obj)
            self.words.add_technique(obj)
        elif kind == "relationship":
            self._relationship(obj)
        elif kind in ("intrusion-set", "malware", "tool", "campaign"):
            self.status[_text(obj.get("id")) or ""] = _active(obj)
        elif kind == "x-mitre-tactic":
            self.tactics[_text(obj.get("id")) or ""] = obj
        elif kind == "x-mitre-matrix":
            self.matrices.append(obj)
        elif kind == "x-mitre-collection":
            self.collection_version = _text(obj.get("x_mitre_version")) or self.collection_version
        elif kind in DETECTION_KINDS:
            self.detection.add(kind, obj)
        spec = _text(obj.get("x_mitre_attack_spec_version"))
        if spec and version_key(spec) > version_key(self.spec_version or "0"):
            self.spec_version = spec

    def _relationship(self, obj: dict) -> None:
        rtype = obj.get("relationship_type")
        src, dst = obj.get("source_ref"), obj.get("target_ref")
        if not isinstance(src, str) or not isinstance(dst, str):
            return
        if rtype == "revoked-by":
            self.revoked_by.setdefault(src, dst)
        elif not _active(obj):
            return
        elif rtype == "uses" and dst.startswith("attack-pattern--"):
            self.uses.append((src, dst))
            self.words.add_use(src, dst, obj)
        elif rtype == "subtechnique-of":
            self.parent_of[src] = dst
        elif rtype == "attributed-to":
            self.attributed.append((src, dst))
        elif rtype == "detects":
            self.detection.detects.append((src, dst))

    def matrix(self, domain: str, path: Path | None) -> dict | None:
        """The domain's matrix (a bundle may keep a deprecated one under the same ID, as mobile-attack
        does: the live one is taken); an error when the bundle is of another domain."""
        mine = [m for m in self.matrices if _mitre_ref(m)[0] == domain]
        matrix = next((m for m in mine if _active(m)), mine[0] if mine else (self.matrices[0] if self.matrices else None))
        bundle_domain = _mitre_ref(matrix)[0] if matrix else None
        if bundle_domain and bundle_domain != domain:
            raise AttackFormatError(f"bundle is ATT&CK '{bundle_domain}', not the requested '{domain}'", file=path)
        return matrix


def _parse_frames(raw: bytes, path: Path | None, domain: str, sha256: str | None) -> dict[str, Any]:
    doc = _decode(raw, path)
    if not isinstance(doc, dict) or doc.get("type") != "bundle" or not isinstance(doc.get("objects"), list):
        raise AttackFormatError("not a STIX bundle (expected an object with type 'bundle' and 'objects')", file=path)
    got = _Gathered()
    for obj in doc["objects"]:
        if isinstance(obj, dict):
            got.add(obj)
    if not got.patterns or not got.tactics:
        raise AttackFormatError(
            f"STIX bundle holds no ATT&CK {'techniques' if not got.patterns else 'tactics'} "
            "(no attack-pattern / x-mitre-tactic objects)", file=path,
        )
    tactics_df = _tactics_frame(got.tactics, got.matrix(domain, path))
    order = {s: i for i, s in enumerate(tactics_df["shortname"])}
    techniques_df = _techniques_frame(got, order)

    active = techniques_df[active_mask(techniques_df)]
    long = active[["technique_id", "tactics"]].explode("tactics").dropna(subset=["tactics"])
    tt = pd.DataFrame({
        "technique_id": long["technique_id"].to_numpy(),
        "tactic": pd.Categorical(long["tactics"].to_numpy(), categories=list(order), ordered=True),
    })
    ids = dict(zip(techniques_df["stix_id"], techniques_df["technique_id"]))
    plats = dict(zip(techniques_df["technique_id"], techniques_df["platforms"]))
    detection, words, status = got.detection, got.words, got.status
    return {
        "tactics": tactics_df, "techniques": techniques_df,
        "technique_tactics": conform(tt, "attack.technique_tactics"), "domain": domain,
        # the detection frames are built when first asked for (the objects are already gathered)
        "detection_loader": lambda: _guarded(lambda: detection.frames(ids, plats), path),
        "text_loader": lambda: {"technique_text": _guarded(lambda: words.frame(ids, status), path)},
        "sha256": sha256 or sha256_hex(raw),
        "bundle_version": str(got.collection_version) if got.collection_version else None,
        "spec_version": got.spec_version,
    }


def _tactics_frame(tactics: dict[str, dict], matrix: dict | None) -> pd.DataFrame:
    live = {k: v for k, v in tactics.items() if not v.get("revoked")}  # a revoked tactic is no tactic
    refs = [r for r in _items((matrix or {}).get("tactic_refs")) if isinstance(r, str) and r in live]
    rest = sorted((k for k in live if k not in set(refs)), key=lambda k: _mitre_ref(live[k])[0] or "")
    rows = []
    for i, sid in enumerate(refs + rest):
        obj = live[sid]
        if not isinstance(obj.get("name"), str) or not isinstance(obj.get("x_mitre_shortname"), str):
            raise ValueError(f"x-mitre-tactic {sid!r}: its name and x_mitre_shortname must be text")
        tid, url = _mitre_ref(obj)
        rows.append((tid, _text(obj.get("x_mitre_shortname")), _text(obj.get("name")), url, i,
                     bool(obj.get("x_mitre_deprecated"))))
    return conform(pd.DataFrame(rows, columns=columns("attack.tactics")), "attack.tactics")


def _usage(got: _Gathered) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per technique (stix id): the active groups (directly, or through an active campaign attributed
    to an active group) and the active software that use it."""
    status = got.status
    groups: dict[str, set[str]] = {}
    software: dict[str, set[str]] = {}
    campaign_groups: dict[str, set[str]] = {}
    for src, dst in got.attributed:
        if src.startswith("campaign--") and status.get(src) and status.get(dst) and dst.startswith("intrusion-set--"):
            campaign_groups.setdefault(src, set()).add(dst)
    for src, dst in got.uses:
        if not status.get(src):
            continue
        if src.startswith("intrusion-set--"):
            groups.setdefault(dst, set()).add(src)
        elif src.startswith(("malware--", "tool--")):
            software.setdefault(dst, set()).add(src)
        elif src.startswith("campaign--"):
            groups.setdefault(dst, set()).update(campaign_groups.get(src, ()))
    return groups, software


_TECHNIQUE_ID = re.compile(r"T[0-9]{4}(?:\.[0-9]{3})?")


def _check_pattern(p: dict[str, Any]) -> None:
    """The properties a technique's identity rests on have their STIX types: a list where a tactic's
    name belongs, or a reference without a source, would silently lose the technique or its tactics."""
    where = f"attack-pattern {p.get('id')!r}"
    if not isinstance(p.get("name", ""), str):
        raise ValueError(f"{where}: its name is not text")
    for i, ph in enumerate(_items(p.get("kill_chain_phases"))):
        if not isinstance(ph, dict) or not isinstance(ph.get("phase_name"), str) \
                or not isinstance(ph.get("kill_chain_name"), str):
            raise ValueError(f"{where}: kill_chain_phases[{i}] needs text kill_chain_name and phase_name")
    for i, ref in enumerate(_items(p.get("external_references"))):
        if not isinstance(ref, dict) or not isinstance(ref.get("source_name"), str):
            raise ValueError(f"{where}: external_references[{i}] needs a text source_name")


def _techniques_frame(got: _Gathered, order: dict[str, int]) -> pd.DataFrame:
    patterns, revoked_by, parent_of = got.patterns, got.revoked_by, got.parent_of
    id_of = {_text(p.get("id")): _mitre_ref(p)[0] for p in patterns}
    revoked_ids = {_text(p.get("id")) for p in patterns if p.get("revoked")}
    groups, software = _usage(got)

    def final_replacement(sid: str) -> str | None:
        seen = {sid}
        cur = revoked_by.get(sid)
        while cur in revoked_ids and cur in revoked_by and revoked_by[cur] not in seen:
            seen.add(cur)
            cur = revoked_by[cur]
        return id_of.get(cur) if cur else None

    rows = []
    for p in patterns:
        sid = _text(p.get("id"))
        _check_pattern(p)
        tid, url = _mitre_ref(p)
        if not tid or not _TECHNIQUE_ID.fullmatch(tid):  # T1059, T1059.004: anything else is no technique
            continue
        revoked = bool(p.get("revoked"))
        is_sub = bool(p.get("x_mitre_is_subtechnique"))
        parent = id_of.get(parent_of.get(sid)) if sid in parent_of else None
        if is_sub and parent is None and "." in tid:
            parent = tid.split(".", 1)[0]
        phases = {
            _text(ph.get("phase_name")) for ph in _items(p.get("kill_chain_phases")) if isinstance(ph, dict)
        }
        rows.append((
            tid, sid, _text(p.get("name")), is_sub, parent,
            [x for x in _items(p.get("x_mitre_platforms")) if isinstance(x, str)],
            sorted((s for s in phases if s in order), key=order.__getitem__),
            revoked, bool(p.get("x_mitre_deprecated")),
            final_replacement(sid) if revoked and sid else None,
            url, len(groups.get(sid or "", ())), len(software.get(sid or "", ())), _text(p.get("modified")),
        ))
    df = pd.DataFrame(rows, columns=columns("attack.techniques"))
    df["modified"] = pd.to_datetime(df["modified"], utc=True, format="ISO8601", errors="coerce")
    df = df.sort_values("technique_id", kind="stable", ignore_index=True)
    if df["technique_id"].duplicated().any():
        # Two objects with one ID: keep the active one so lookups by ID are unambiguous.
        df = (df.assign(_rank=(df["revoked"] | df["deprecated"]).astype(int))
              .sort_values(["technique_id", "_rank"], kind="stable")
              .drop_duplicates("technique_id").drop(columns="_rank").reset_index(drop=True))
    return conform(df, "attack.techniques")
