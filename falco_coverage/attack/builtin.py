"""ATT&CK built in: compact snapshots of releases shipped in the package, for a machine with no bundle.

A snapshot is the frames entry the cache stores (tactics, techniques, technique_tactics and what the
bundle says about itself), gzipped JSON, with the detection model's frames beside it in ``detection/``, derived from a release's STIX bundle by
:func:`build_snapshot` (``python data/build_attack_snapshots.py`` rebuilds them all). The newest is
the default release, so results are reproducible without a network; older ones let the checks say
how a tag moved between releases. ``LICENSE-ATTACK.txt`` beside them is MITRE's licence notice.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from ..versions import version_key

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
LICENSE_NAME = "LICENSE-ATTACK.txt"


def _file(domain: str, version: str) -> Path:
    return BUILTIN_DIR / f"{domain}-{version}.json.gz"


def builtin_versions(domain: str = "enterprise-attack") -> list[str]:
    """Releases shipped in the package, oldest first."""
    found = [p.name[len(domain) + 1:-len(".json.gz")] for p in BUILTIN_DIR.glob(f"{domain}-*.json.gz")]
    return sorted((v for v in found if version_key(v) != (-1,)), key=version_key)


def default_version(domain: str = "enterprise-attack") -> str | None:
    """The pinned default release: the newest one built in."""
    versions = builtin_versions(domain)
    return versions[-1] if versions else None


def _detection_file(domain: str, version: str) -> Path:
    return BUILTIN_DIR / "detection" / f"{domain}-{version}.json.gz"


def _text_file(domain: str, version: str) -> Path:
    return BUILTIN_DIR / "text" / f"{domain}-{version}.json.gz"


def _text_loader(domain: str, version: str) -> Any:
    """Reads the techniques' text of ``version``; only the default release ships it (it is 20 times
    the size of the frames), so an older built-in release borrows it, technique by technique ID."""
    from .cache import decode_entry

    path = _text_file(domain, version)
    if not path.is_file():
        path = _text_file(domain, str(default_version(domain)))
    if not path.is_file():
        return None
    return lambda: decode_entry(gzip.decompress(path.read_bytes()), "text")


def load_snapshot(version: str, domain: str = "enterprise-attack") -> dict[str, Any] | None:
    """The frames entry of a built-in release, or None when the package has no snapshot of it. Its
    ``detection_loader`` and ``text_loader`` read the detection model's frames and the techniques'
    text, kept in files of their own."""
    from .cache import decode_entry

    path = _file(domain, version)
    if not path.is_file():
        return None
    entry = decode_entry(gzip.decompress(path.read_bytes()))
    det = _detection_file(domain, version)
    entry["detection_loader"] = (lambda: decode_entry(gzip.decompress(det.read_bytes()), "detection")) \
        if det.is_file() else None
    entry["text_loader"] = _text_loader(domain, version)
    return entry


def build_snapshot(bundle: Path, out_dir: Path = BUILTIN_DIR, *, domain: str = "enterprise-attack",
                   license_file: Path | None = None, text: bool = False) -> Path:
    """Write the snapshot of ``bundle`` (its release from its own collection object or its name) to
    ``out_dir``, with MITRE's licence notice beside it when ``license_file`` is given, and the
    techniques' text when ``text`` is set (the default release)."""
    from ..fsutil import atomic_write
    from .cache import encode_entry
    from .stix import parse_frames, read_bundle_bytes, version_from_name

    entry = parse_frames(read_bundle_bytes(bundle), path=bundle, domain=domain)
    version = entry["bundle_version"] or version_from_name(bundle)
    if not version:
        raise ValueError(f"{bundle}: cannot tell which ATT&CK release this is")
    entry["bundle_version"] = version
    target = out_dir / f"{domain}-{version}.json.gz"
    atomic_write(target, gzip.compress(encode_entry(entry), 9, mtime=0))
    detection = {**entry["detection_loader"](), "sha256": entry["sha256"]}
    atomic_write(out_dir / "detection" / target.name, gzip.compress(encode_entry(detection, "detection"), 9, mtime=0))
    if text:
        words = {**entry["text_loader"](), "sha256": entry["sha256"]}
        atomic_write(out_dir / "text" / target.name, gzip.compress(encode_entry(words, "text"), 9, mtime=0))
    if license_file is not None:
        atomic_write(out_dir / LICENSE_NAME, license_file.read_bytes())
    return target
