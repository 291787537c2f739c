"""``load_attack``: find a bundle (:mod:`.sources`), then take its frames from the cache
(:mod:`.cache`) or parse them (:mod:`.stix`), and name the release it is."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..versions import PACKAGE_VERSION as __version__
from ..errors import AttackFormatError, FalcoCoverageError
from . import cache as frames_cache
from . import sources
from .builtin import default_version, load_snapshot
from .model import AttackData
from .stix import parse_frames, read_bundle_bytes, sha256_hex, version_from_name

if TYPE_CHECKING:
    import pandas as pd


def _lazy_loader(kind: str, path: Path, digest: str, domain: str, cache: bool,
                 build: Callable[[], dict[str, pd.DataFrame]] | None) -> Callable[[], dict[str, pd.DataFrame]]:
    """What builds the ``kind`` frames (``detection`` or ``text``) of the bundle at ``path`` when first
    asked for: the cache's entry, else ``build`` (the parse already made), else a new parse; stored in
    the cache once built."""
    def load() -> dict[str, pd.DataFrame]:
        if cache:
            hit = frames_cache.read_frames(digest, kind)
            if hit is not None:
                return hit
        frames = build() if build is not None else \
            parse_frames(read_bundle_bytes(path), path=path, domain=domain, sha256=digest)[f"{kind}_loader"]()
        if cache:
            frames_cache.write_frames({**frames, "sha256": digest}, kind)
        return frames
    return load


def load_attack(
    source: str | Path | None = None, *, version: str | None = None,
    domain: str = "enterprise-attack", cache: bool = True,
) -> AttackData:
    """Load an ATT&CK release as DataFrames.

    ``source`` is a STIX bundle path (``.json``/``.json.gz``). Without it: ``$FALCO_COVERAGE_ATTACK``,
    then ``$FALCO_COVERAGE_ATTACK_DIR`` (a mirror of ``<domain>-<version>.json`` files), then the
    cache, then the snapshot built into the package, then a verified download. ``version`` defaults
    to the newest built-in release (pinned, so results are reproducible); ``"latest"`` asks for the
    newest release mitreattack-python lists. ``cache=False`` neither reads nor writes the cache.
    """
    if version == "latest":
        version = sources.newest_known(domain)
    if version is None and source is None and not os.environ.get(sources.ENV_FILE):
        version = default_version(domain)
    path = sources.locate(source, version=version, domain=domain, use_cache=cache)
    if path is None:  # the built-in snapshot of ``version``
        entry = load_snapshot(str(version), domain)
        assert entry is not None
        return AttackData(**entry, version=version, source_path=None, use_cache=cache,
                          origin=f"built into falco-coverage {__version__}, derived from MITRE's bundle")
    raw: bytes | None = None
    digest = frames_cache.known_digest(path) if cache else None
    before = None
    if digest is None:
        before = frames_cache.stamp(path)
        raw = read_bundle_bytes(path)
        digest = sha256_hex(raw)
    if source is None:
        sources.verify_cached(path, digest, domain)
    entry = frames_cache.read_frames(digest) if cache else None
    if entry is None:
        raw = raw if raw is not None else read_bundle_bytes(path)
        entry = parse_frames(raw, path=path, domain=domain, sha256=digest)
        if cache:
            frames_cache.write_frames(entry)
        for kind in ("detection", "text"):
            entry[f"{kind}_loader"] = _lazy_loader(kind, path, digest, domain, cache, entry[f"{kind}_loader"])
    else:
        for kind in ("detection", "text"):
            entry[f"{kind}_loader"] = _lazy_loader(kind, path, digest, domain, cache, None)
    if entry["domain"] != domain:
        raise AttackFormatError(f"bundle is ATT&CK '{entry['domain']}', not the requested '{domain}'", file=path)
    if cache and before is not None:  # a bundle that loaded: the next load need not hash it again
        frames_cache.remember_digest(path, before, digest)
    found = entry["bundle_version"] or version_from_name(path) or sources.version_from_sha256(digest, domain)
    if version and found and source is not None and found != str(version):
        raise FalcoCoverageError(f"bundle is ATT&CK {found}, but version {version} was asked for", file=path)
    return AttackData(**entry, version=found, source_path=str(path), origin=str(path), use_cache=cache)
