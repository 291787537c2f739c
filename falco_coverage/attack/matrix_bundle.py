"""A release's matrix as a small STIX 2.1 bundle: tactics, techniques and one matrix, no more.

The SVG and Excel exporters read a STIX bundle file. With the release built into the package there
is none on disk, so this writes the part of it they draw (the matrix and each technique's name,
tactics and platforms) from the loaded frames. Identifiers are the release's own for techniques and
stable UUIDv5s for the rest, so the same release gives the same file.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write
from .model import AttackData

_NS = uuid.UUID("6f0b6a8e-3c55-4d6c-9b59-2f1a8b7c9d10")
_STAMP = "2000-01-01T00:00:00.000Z"


def _common(kind: str, ident: str, name: str) -> dict[str, Any]:
    return {"type": kind, "spec_version": "2.1", "id": ident, "created": _STAMP, "modified": _STAMP, "name": name}


def matrix_bundle(attack: AttackData) -> dict[str, Any]:
    """The matrix of ``attack`` as STIX 2.1: active tactics in matrix order and active techniques."""
    tactics = attack.tactics[~attack.tactics["deprecated"].astype(bool)].sort_values("order")
    objects: list[dict[str, Any]] = []
    refs = []
    for t in tactics.itertuples(index=False):
        ident = f"x-mitre-tactic--{uuid.uuid5(_NS, str(t.tactic_id))}"
        refs.append(ident)
        objects.append({**_common("x-mitre-tactic", ident, str(t.name)), "x_mitre_shortname": str(t.shortname),
                        "external_references": [{"source_name": "mitre-attack", "external_id": str(t.tactic_id),
                                                 "url": str(t.url)}]})
    matrix_id = f"x-mitre-matrix--{uuid.uuid5(_NS, attack.domain)}"
    objects.append({**_common("x-mitre-matrix", matrix_id, "Enterprise ATT&CK"), "tactic_refs": refs,
                    "external_references": [{"source_name": "mitre-attack", "external_id": attack.domain}]})
    techniques = attack.techniques[~attack.techniques["revoked"].astype(bool)
                                   & ~attack.techniques["deprecated"].astype(bool)]
    for t in techniques.itertuples(index=False):
        objects.append({**_common("attack-pattern", str(t.stix_id), str(t.name)),
                        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": str(p)}
                                              for p in t.tactics],
                        "external_references": [{"source_name": "mitre-attack", "external_id": str(t.technique_id),
                                                 "url": str(t.url)}],
                        "x_mitre_platforms": list(t.platforms), "x_mitre_is_subtechnique": bool(t.is_subtechnique)})
    return {"type": "bundle", "id": f"bundle--{uuid.uuid5(_NS, f'{attack.domain}-{attack.version}')}",
            "objects": objects}


def write_matrix_bundle(attack: AttackData, directory: Path) -> Path:
    """:func:`matrix_bundle` written once per release under ``directory``; its path."""
    path = directory / f"{attack.domain}-{attack.version}-matrix.json"
    if not path.is_file():
        atomic_write(path, json.dumps(matrix_bundle(attack)).encode("utf-8"))
    return path
