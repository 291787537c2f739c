"""Integration: coverage of the upstream rules at 18.1 against an independent computation."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import yaml

from falco_coverage import load_attack, load_rules, plots
from falco_coverage.analysis.coverage import coverage
from falco_coverage.present.layers import to_navigator

from .conftest import shared_path

UPSTREAM = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]


def independent_counts() -> dict[str, tuple[int, int]]:
    """tactic -> (applicable, covered) from raw YAML and raw STIX, sharing no code with the package."""
    tagged: set[str] = set()
    for name in UPSTREAM:
        for item in yaml.safe_load(shared_path("falco-rules", "main", name).read_text()):
            if "rule" in item and item.get("enabled", True) is not False:
                tagged |= {t for t in item.get("tags", []) if re.fullmatch(r"T\d{4}(\.\d{3})?", t)}
    bundle = json.loads(shared_path("attack", "enterprise-attack-18.1.json").read_text())
    applicable: dict[str, set[str]] = defaultdict(set)
    subs: dict[str, set[str]] = defaultdict(set)
    for o in bundle["objects"]:
        if o["type"] != "attack-pattern" or o.get("revoked") or o.get("x_mitre_deprecated"):
            continue
        tid = next(r["external_id"] for r in o["external_references"] if r["source_name"] == "mitre-attack")
        if not {"Linux", "Containers"} & set(o.get("x_mitre_platforms", [])):
            continue
        if "." in tid:
            subs[tid.split(".")[0]].add(tid)
            continue
        for phase in o["kill_chain_phases"]:
            applicable[phase["phase_name"]].add(tid)
    out = {}
    for tactic, techs in applicable.items():
        covered = {t for t in techs if t in tagged or subs[t] & tagged}
        out[tactic] = (len(techs), len(covered))
    return out


def test_upstream_coverage_matches_independent_count() -> None:
    rs = load_rules(*(shared_path("falco-rules", "main", n) for n in UPSTREAM))
    attack = load_attack(shared_path("attack", "enterprise-attack-18.1.json"))
    cov = coverage(rs, attack)
    assert cov.scope.platforms == ("Containers", "Linux")
    ours = {r["tactic"]: (r["applicable"], r["covered"]) for r in cov.tactics.to_dict("records") if r["applicable"]}
    assert ours == independent_counts()
    # the figures and the layer build on the real data
    for fig in (plots.matrix_heatmap(cov), plots.tactic_bars(cov), plots.breakdown(cov, "maturity"),
                plots.gaps_table(cov)):
        assert fig.to_dict()["data"]
    layer = to_navigator(cov, "upstream")
    ids = set(attack.techniques["technique_id"])
    assert layer["techniques"] and all(t["techniqueID"] in ids for t in layer["techniques"])
    assert layer["versions"]["attack"] == "18"
