"""Integration: our frames agree with mitreattack-python on every technique of the real bundles."""

from __future__ import annotations

import hashlib
import json
import os

import pandas as pd
import pytest

from falco_coverage import load_attack
from falco_coverage.run.cli import main

from .conftest import FIXTURES, shared_path


def _mitre_id(obj) -> str:
    return next(r.external_id for r in obj.external_references if r.source_name == "mitre-attack")


def _missing(x) -> bool:
    return x is None or (not isinstance(x, list) and pd.isna(x))


VERSIONS = ["13.1", "16.1", "18.1"]
GOLDEN = FIXTURES / "golden"


def _digest(view: dict) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:16]


def _our_view(ours, tid: str) -> dict:
    """What the oracle is compared on, for one technique, as our frames say it."""
    row = ours.technique(tid)
    return {
        "tactics": sorted(row["tactics"]), "platforms": list(row["platforms"]),
        "revoked": bool(row["revoked"]), "deprecated": bool(row["deprecated"]),
        "is_subtechnique": bool(row["is_subtechnique"]),
        "n_groups": int(row["n_groups"]), "n_software": int(row["n_software"]),
        "parent_id": None if _missing(row["parent_id"]) else row["parent_id"],
        "replaced_by": None if _missing(row["replaced_by"]) else row["replaced_by"],
    }


def _golden_file(version: str):
    return GOLDEN / f"attack-oracle-{version}.json"


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_every_technique_agrees_with_mitreattack(version: str) -> None:
    """The oracle: mitreattack-python's reading of the bundle, technique by technique. It also
    (re)writes the golden digests the fast test below compares against, when they are missing or when
    FALCO_COVERAGE_REGEN_GOLDEN=1, and otherwise checks they still hold."""
    from mitreattack.stix20 import MitreAttackData

    path = shared_path("attack", f"enterprise-attack-{version}.json")
    ours = load_attack(path)
    assert ours.version == version
    mad = MitreAttackData(str(path))
    techniques = mad.get_techniques(remove_revoked_deprecated=False)
    assert len(techniques) == len(ours.techniques)
    shortnames = {t.x_mitre_shortname for t in mad.get_tactics()}
    parents = mad.get_all_parent_techniques_of_all_subtechniques()
    groups = mad.get_all_groups_using_all_techniques()
    software = mad.get_all_software_using_all_techniques()
    bad: list[tuple] = []
    theirs_views: dict[str, str] = {}
    for t in techniques:
        tid = _mitre_id(t)
        row = ours.technique(tid)
        # mitreattack's get_tactics_by_technique: kill-chain phase names that are tactic shortnames.
        theirs_tactics = {p["phase_name"] for p in t.get("kill_chain_phases", [])} & shortnames
        expected = {
            "tactics": theirs_tactics,
            "platforms": list(t.get("x_mitre_platforms", [])),
            "revoked": bool(t.get("revoked", False)),
            "deprecated": bool(t.get("x_mitre_deprecated", False)),
            "is_subtechnique": bool(t.get("x_mitre_is_subtechnique", False)),
            "n_groups": len({e["object"].id for e in groups.get(t.id, [])}),
            "n_software": len({e["object"].id for e in software.get(t.id, [])}),
        }
        got = {
            "tactics": set(row["tactics"]), "platforms": list(row["platforms"]),
            "revoked": bool(row["revoked"]), "deprecated": bool(row["deprecated"]),
            "is_subtechnique": bool(row["is_subtechnique"]),
            "n_groups": int(row["n_groups"]), "n_software": int(row["n_software"]),
        }
        for key in expected:
            if got[key] != expected[key]:
                bad.append((tid, key, got[key], expected[key]))
        parent = parents.get(t.id)
        if parent:  # mitreattack answers for active sub-techniques; ours also names the parent of revoked ones
            if row["parent_id"] != _mitre_id(parent[0]["object"]):
                bad.append((tid, "parent_id", row["parent_id"], _mitre_id(parent[0]["object"])))
        elif not _missing(row["parent_id"]):
            assert row["is_subtechnique"] and (row["revoked"] or row["deprecated"]), tid
            assert tid.startswith(row["parent_id"] + "."), tid
        want = None
        if row["revoked"]:
            cur, hops = t, 0
            while cur is not None and cur.get("revoked", False) and hops < 10:
                cur, hops = mad.get_revoking_object(cur.id), hops + 1
            want = _mitre_id(cur) if cur is not None else None
            if (None if _missing(row["replaced_by"]) else row["replaced_by"]) != want:
                bad.append((tid, "replaced_by", row["replaced_by"], want))
        elif not _missing(row["replaced_by"]):
            bad.append((tid, "replaced_by on a non-revoked technique", row["replaced_by"], None))
        # where mitreattack names no parent (a revoked or deprecated sub-technique), ours may: checked above
        theirs_parent = _mitre_id(parent[0]["object"]) if parent else \
            (None if _missing(row["parent_id"]) else row["parent_id"])
        theirs_views[tid] = _digest({**expected, "tactics": sorted(theirs_tactics), "parent_id": theirs_parent,
                                     "replaced_by": want})
    assert bad == []
    golden = {"bundle_sha256": ours.sha256, "techniques": dict(sorted(theirs_views.items()))}
    target = _golden_file(version)
    if os.environ.get("FALCO_COVERAGE_REGEN_GOLDEN") or not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(golden, indent=0, sort_keys=True) + "\n")
    assert json.loads(target.read_text()) == golden, "golden digests are stale: rerun with FALCO_COVERAGE_REGEN_GOLDEN=1"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_technique_agrees_with_the_oracles_golden_digests(version: str) -> None:
    """Fast: our frames against the digests of mitreattack-python's reading (kept by the test above)."""
    path = shared_path("attack", f"enterprise-attack-{version}.json")
    golden = json.loads(_golden_file(version).read_text())
    ours = load_attack(path)
    assert ours.sha256 == golden["bundle_sha256"]  # the digests are of this very bundle
    assert sorted(ours.techniques["technique_id"]) == sorted(golden["techniques"])
    differ = [tid for tid, digest in golden["techniques"].items() if _digest(_our_view(ours, tid)) != digest]
    assert differ == []


def test_enterprise_18_1_headline_numbers() -> None:
    a = load_attack(shared_path("attack", "enterprise-attack-18.1.json"))
    assert len(a.tactics) == 14
    assert a.tactics["shortname"].iloc[0] == "reconnaissance" and a.tactics["shortname"].iloc[-1] == "impact"
    assert len(a.active_techniques()) == 691
    t1099 = a.technique("T1099")
    assert t1099["revoked"] and t1099["replaced_by"] == "T1070.006"
    assert set(a.technique_tactics["technique_id"]) == set(a.active_techniques()["technique_id"])


def test_cli_attack_info(capsys: pytest.CaptureFixture) -> None:
    path = shared_path("attack", "enterprise-attack-18.1.json")
    assert main(["attack", "info", "--attack", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ATT&CK enterprise-attack 18.1" in out
    assert "14 tactics, 216 techniques and 475 sub-techniques active; 132 revoked, 12 deprecated" in out
    assert "TA0043" in out and "Privilege Escalation" in out
