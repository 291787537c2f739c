"""Rebuild the ATT&CK snapshots shipped in the package from STIX bundles.

    python data/build_attack_snapshots.py [DIR]

DIR (default: ../shared/data/attack beside the repository) holds ``enterprise-attack-<version>.json``
bundles and MITRE's ``LICENSE.txt``; every bundle there becomes
``falco_coverage/attack/builtin/enterprise-attack-<version>.json.gz`` (with its detection model in
``detection/``); the newest also gets its techniques' text in ``text/``, which suggestions match
rules against (older built-in releases borrow it by technique ID).
"""

from __future__ import annotations

import sys
from pathlib import Path

from falco_coverage.attack.builtin import BUILTIN_DIR, build_snapshot
from falco_coverage.attack.stix import version_from_name
from falco_coverage.versions import version_key

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "attack"
    bundles = sorted(source.glob("enterprise-attack-*.json"), key=lambda b: version_key(version_from_name(b) or ""))
    if not bundles:
        sys.exit(f"{source}: no enterprise-attack-<version>.json bundles")
    licence = source / "LICENSE.txt"
    for bundle in bundles:
        out = build_snapshot(bundle, BUILTIN_DIR, license_file=licence if licence.exists() else None,
                             text=bundle == bundles[-1])
        print(f"{bundle.name} -> {out.relative_to(REPO)} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
