"""Observability on real releases, checked against a traversal of the raw STIX bundle written here.

The traversal below reads the bundle with ``json`` and walks the STIX objects itself (detects
relationships, x_mitre_analytic_refs, log-source references) and sums verdicts up per technique
itself; it shares no code with ``falco_coverage.attack`` or the observability module. The verdict
on one reference (``grade_reference``) is the one shared piece: ``test_verdicts.py`` tests it rule by rule.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from falco_coverage import load_attack
from falco_coverage.analysis.coverage.observability import observability
from falco_coverage.analysis.coverage.sensors import builtin_profile
from falco_coverage.analysis.coverage.verdict import grade_reference
from falco_coverage.rules.catalogue import builtin

from .conftest import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]

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
    profile, cat = builtin_profile(), builtin()

    def dead(o: dict) -> bool:
        return bool(o.get("revoked") or o.get("x_mitre_deprecated"))

    def verdict(plats: set[str], log: dict) -> str:
        component = objects.get(log.get("x_mitre_data_component_ref"), {}).get("name")
        channel = (log.get("channel") or "").strip() or None
        grades = [grade_reference(profile[s], log.get("name"), component, channel, cat)[0]
                  for s in sensors if plats & set(PLATFORMS[s])]
        return max(grades, key=["none", "partial", "full"].index, default="none")

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
        complete = some = False
        for strategy in strategies_of[sid]:
            for ref in strategy.get("x_mitre_analytic_refs", []):
                analytic = objects.get(ref)
                if analytic is None or dead(analytic) or not _mitre_id(analytic):
                    continue
                plats = set(analytic.get("x_mitre_platforms", [])) & scope_set
                if not plats:
                    continue
                grades = [verdict(plats, log) for log in analytic.get("x_mitre_log_source_references", [])]
                complete |= bool(grades) and all(g == "full" for g in grades)
                some |= any(g != "none" for g in grades)
        levels[tid] = "full" if complete else ("partial" if some else "none")
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
