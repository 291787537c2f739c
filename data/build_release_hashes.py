"""Rebuild the list of published ATT&CK release hashes shipped in the package.

    python data/build_release_hashes.py

Reads mitreattack-python's ``release_info`` (the SHA-256 of every STIX 2.0 and 2.1 release MITRE
publishes, per domain) into ``falco_coverage/attack/builtin/release-hashes.json``, so downloads are
verified without installing mitreattack-python; where it is installed, its (possibly newer) list is
used too. A test checks that the shipped file is exactly what this script makes.
"""

from __future__ import annotations

import json

from falco_coverage.attack.builtin import BUILTIN_DIR

OUT = BUILTIN_DIR / "release-hashes.json"


def render() -> str:
    """The file's text: ``{"2.0"|"2.1": {domain: {version: sha256}}}``, keys sorted."""
    from mitreattack import release_info

    doc = {"2.0": release_info.STIX20, "2.1": release_info.STIX21}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    print(f"{OUT}: {sum(len(v) for t in json.loads(OUT.read_text()).values() for v in t.values())} releases")


if __name__ == "__main__":
    main()
