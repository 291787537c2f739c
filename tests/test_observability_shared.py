"""Observability on real releases, checked against a traversal of the raw STIX bundle written here.

The traversal below reads the bundle with ``json`` and the sensor profile's YAML file directly and
walks the STIX objects itself (detects relationships, x_mitre_analytic_refs, log-source references);
it shares no code with ``falco_coverage.attack`` or ``falco_coverage.analysis.coverage.observability``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from falco_coverage import load_attack
from falco_coverage.analysis.coverage.observability import observability

from .conftest import REPO, shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]

PROFILE = REPO / "falco_coverage" / "analysis" / "builtin" / "sensors.yaml"
#: what each sensor observes as platforms, written out here rather than imported
PLATFORMS = {"syscall": ["Linux", "Containers"], "k8s_audit": ["Containers"], "aws_cloudtrail": ["IaaS"],
             "okta": ["Identity Provider", "SaaS"], "github": ["SaaS"]}


def _mitre_id(obj: dict) -> str | None:
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref.get("external_id")
    return None


def raw_levels(bundle: Path, sensors: list[str], scope: list[str]) -> dict[str, str]:
    doc = json.loads(bundle.read_text())
    objects = {o["id"]: o for o in doc["objects"]}
    profile = yaml.safe_load(PROFILE.read_text())

    def dead(o: dict) -> bool:
        return bool(o.get("revoked") or o.get("x_mitre_deprecated"))

    techniques = {o["id"]: _mitre_id(o) for o in doc["objects"] if o["type"] == "attack-pattern" and not dead(o)}
    strategies_of: dict[str, list[dict]] = defaultdict(list)
    for r in doc["objects"]:
        if r["type"] == "relationship" and r["relationship_type"] == "detects" and not dead(r):
            src = objects.get(r["source_ref"])
            if src and src["type"] == "x-mitre-detection-strategy" and not dead(src) and r["target_ref"] in techniques:
                strategies_of[r["target_ref"]].append(src)
    scope_set = set(scope)
    levels = {}
    for sid, tid in techniques.items():
        total = seen = 0
        for strategy in strategies_of[sid]:
            for ref in strategy.get("x_mitre_analytic_refs", []):
                analytic = objects.get(ref)
                if analytic is None or dead(analytic):
                    continue
                plats = set(analytic.get("x_mitre_platforms", [])) & scope_set
                if not plats:
                    continue
                total += 1
                ok = False
                for log in analytic.get("x_mitre_log_source_references", []):
                    component = objects.get(log.get("x_mitre_data_component_ref"), {}).get("name", "")
                    for sensor in sensors:
                        if not plats & set(PLATFORMS[sensor]):
                            continue
                        entry = profile[sensor]
                        if log["name"].lower() in {n.lower() for n in entry["log_sources"] or {}} or \
                                component.lower() in {n.lower() for n in entry["data_components"] or {}}:
                            ok = True
                seen += ok
        levels[tid] = "full" if total and seen == total else ("partial" if seen else "none")
    return levels


@pytest.mark.parametrize("version", ["18.1", "19.1"])
@pytest.mark.parametrize("sensors, scope", [
    (["syscall"], ["Linux", "Containers"]),
    (["syscall", "k8s_audit", "aws_cloudtrail"], ["Linux", "Containers", "IaaS"]),
    (["okta", "github"], ["Identity Provider", "SaaS"]),
])
def test_observable_counts_match_an_independent_traversal(version: str, sensors: list[str], scope: list[str]) -> None:
    bundle = shared_path("attack", f"enterprise-attack-{version}.json")
    expected = raw_levels(bundle, sensors, scope)
    got = observability(load_attack(bundle), sensors, scope)
    mine = dict(zip(got["technique_id"], got["observable"].astype(str)))
    assert Counter(mine.values()) == Counter(expected.values())
    assert mine == expected
    assert Counter(expected.values())["full"] > 0


def test_every_release_answers_the_same_question() -> None:
    """Before v18 the data components that detect a technique stand in for its analytics."""
    for version in ("13.1", "16.1", "18.1", "19.1"):
        a = load_attack(shared_path("attack", f"enterprise-attack-{version}.json"))
        obs = observability(a, ["syscall"], ["Linux", "Containers"])
        counts = obs["observable"].value_counts()
        assert counts["full"] + counts["partial"] > 100, version
        linux = set(a.active_techniques(["Linux"])["technique_id"])
        assert set(obs.loc[obs["n_analytics"] > 0, "technique_id"]) <= set(a.techniques["technique_id"])
        assert obs[obs["technique_id"].isin(linux)]["n_analytics"].gt(0).mean() > 0.8, version
