"""When ATT&CK moves: v19's end of Defense Evasion, migrations derived from two releases, transitions,
comparisons keyed by tactic ID, and ATT&CK built into the package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import fix, load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.analysis.coverage.compare import attack_drift, tactic_change, tactic_moves
from falco_coverage.analysis.coverage import coverage
from falco_coverage.analysis.tags.migrate import Migration, previous_release
from falco_coverage.attack import parse_bundle
from falco_coverage.attack.builtin import BUILTIN_DIR, LICENSE_NAME, builtin_versions, default_version
from falco_coverage.config import CheckConfig
from falco_coverage.errors import AttackSourceError
from falco_coverage.run.cli import main

from .conftest import MINI_21, shared_path

MOVED = {"retired-tactic", "tactic-renamed", "revoked-technique", "unknown-tactic"}
UPSTREAM = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]


def rule(name: str, tags: list[str]) -> str:
    return (f"- rule: {name}\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
            f"  tags: [{', '.join(tags)}]\n")


@pytest.fixture(scope="module")
def v18() -> object:
    return load_attack(version="18.1")


@pytest.fixture(scope="module")
def v19() -> object:
    return load_attack(version="19.1")


def findings(tmp_path: Path, attack: object, *rules: str, **kw: object) -> pd.DataFrame:
    p = tmp_path / "rules.yaml"
    p.write_text("".join(rules))
    return check(load_rules(p), attack, config=CheckConfig(), **kw)  # type: ignore[arg-type]


# --- the migration model -----------------------------------------------------------------------
def test_migration_is_derived_from_the_two_releases(v18: object, v19: object) -> None:
    m = Migration(v18, v19)  # type: ignore[arg-type]
    assert m.renamed == {"TA0005": ("defense-evasion", "stealth")}
    assert m.retired == {"defense-evasion": "TA0005"}
    assert m.heirs == {"defense-evasion": ["stealth", "defense-impairment"]}  # the ID's heir first
    moves = dict(zip(m.moves()["destination"], m.moves()["n_techniques"]))
    assert moves == {"stealth": 144, "defense-impairment": 41, "revoked": 17, "elsewhere": 13}
    assert m.fate("T1562.001") == "T1685" and m.fate("T1070.002") == "T1685.006" and m.fate("T1622") == "T1622"
    assert m.replacement("defense-evasion", ["T1622"]) == ["stealth"]
    assert m.replacement("defense-evasion", ["T1562.001"]) == ["defense-impairment"]
    assert m.replacement("defense-evasion", ["T1610"]) == []  # T1610 is Execution only now
    assert m.replacement("defense-evasion", []) is None


def test_the_bundles_give_the_same_migration_as_the_built_in_snapshots() -> None:
    old = load_attack(shared_path("attack", "enterprise-attack-18.1.json"))
    new = load_attack(shared_path("attack", "enterprise-attack-19.1.json"))
    assert Migration(old, new).moves().equals(Migration(load_attack(version="18.1"), load_attack(version="19.1")).moves())


def test_the_previous_release_is_the_last_move_of_the_matrix(v19: object) -> None:
    before = previous_release(v19)  # type: ignore[arg-type]
    assert before is not None and before.version == "18.1"  # 19.0 has the same tactics as 19.1


# --- checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tags", "suggestion"), [
    (["mitre_defense_evasion", "T1622"], "mitre_stealth"),
    (["mitre_defense_evasion", "T1222.002"], "mitre_defense_impairment"),
    (["mitre_defense_evasion", "T1562.001"], "mitre_defense_impairment"),  # through the revoked-by chain
    (["mitre_defense_evasion", "TA0005"], "mitre_stealth"),  # no technique: the heir that kept the ID
])
def test_retired_tactic_names_its_replacement(tmp_path: Path, v19: object, tags: list[str], suggestion: str) -> None:
    f = findings(tmp_path, v19, rule("R", tags))
    hit = f[f["code"] == "retired-tactic"]
    assert list(hit["suggestion"]) == [suggestion] and list(hit["severity"]) == ["error"]
    assert "Defense Evasion" in hit["message"].iloc[0] and "ATT&CK 19.1 retired" in hit["message"].iloc[0]
    assert "unknown-tactic" not in set(f["code"].astype(str))


def test_retired_tactic_whose_techniques_went_elsewhere_is_dropped(tmp_path: Path, v19: object) -> None:
    f = findings(tmp_path, v19, rule("R", ["mitre_execution", "mitre_defense_evasion", "T1610"]))
    hit = f[f["code"] == "retired-tactic"].iloc[0]
    assert pd.isna(hit["suggestion"]) and "remove the tag" in hit["message"]


def test_tactic_renamed_when_the_techniques_left_the_id(tmp_path: Path, v19: object) -> None:
    f = findings(tmp_path, v19, rule("R", ["TA0005", "T1562.001"]), rule("S", ["TA0005", "T1622"]),
                 rule("T", ["TA0005"]))
    hit = f[f["code"] == "tactic-renamed"]
    assert list(zip(hit["rule"], hit["suggestion"])) == [("R", "TA0112")]


def test_informal_tactic_words_follow_the_tactic_id(tmp_path: Path, v18: object, v19: object) -> None:
    for attack, expected in ((v18, "mitre_defense_evasion"), (v19, "mitre_stealth")):
        f = findings(tmp_path, attack, rule("R", ["mitre_evasion", "T1622"]))
        assert list(f.loc[f["code"] == "unknown-tactic", "suggestion"]) == [expected]


def test_transition_accepts_either_release(tmp_path: Path, v18: object, v19: object) -> None:
    f = findings(tmp_path, v19, rule("R", ["mitre_defense_evasion", "T1622"]), rule("S", ["mitre_stealth", "T1622"]),
                 also=v18)
    info = f[f["code"] == "other-release-tag"]
    assert list(info["rule"]) == ["R"] and "valid in ATT&CK 18.1" in info["message"].iloc[0]
    assert f[f["severity"] == "error"].empty


def test_configured_tag_aliases(tmp_path: Path, v19: object) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(rule("R", ["evasive", "T1622"]))
    cfg = CheckConfig.from_mapping({"tag_aliases": {"evasive": "mitre_stealth"}}, {"no-mitre-tags"})
    f = check(load_rules(p), v19, config=cfg)  # type: ignore[arg-type]
    assert f[f["severity"].isin(["error", "warning"])].empty and "tactic-only" not in set(f["code"].astype(str))


# --- fix ---------------------------------------------------------------------------------------
def test_upstream_at_19_1_is_migrated_in_one_idempotent_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    files = []
    for name in UPSTREAM:
        dest = tmp_path / name
        shutil.copy(shared_path("falco-rules", "main", name), dest)
        dest.chmod(0o644)
        files.append(str(dest))
    before = {f: Path(f).read_text().splitlines() for f in files}
    assert main(["fix", *files, "--attack-version", "19.1", "--write"]) == 0
    first = {f: Path(f).read_text() for f in files}
    rs = load_rules(*files)
    after = check(rs, load_attack(version="19.1"), config=CheckConfig())
    assert not set(after["code"].astype(str)) & MOVED
    assert main(["fix", *files, "--attack-version", "19.1", "--write"]) == 0
    assert {f: Path(f).read_text() for f in files} == first  # a second run changes nothing
    changed = [(a, b) for f in files for a, b in zip(before[f], first[f].splitlines()) if a != b]
    assert len(changed) == 7 and all("mitre_defense_evasion" in a and "tags:" in a for a, _ in changed)
    assert sum("mitre_defense_impairment" in b for _, b in changed) == 1  # Mkdir binary dirs: T1222.002
    capsys.readouterr()


def test_revoked_technique_and_its_tactic_move_together(tmp_path: Path, v19: object) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(rule("R", ["mitre_defense_evasion", "T1562.001"]) + rule("S", ["mitre_persistence", "T1562.001"]))
    for _ in range(2):
        rs = load_rules(p)
        f = check(rs, v19, config=CheckConfig())  # type: ignore[arg-type]
        fix.apply(fix.plan(f, rs, attack=v19), write=True)  # type: ignore[arg-type]
    tags = load_rules(p).rules.set_index("name")["tags"].to_dict()
    assert tags == {"R": ["mitre_defense_impairment", "T1685"],
                    "S": ["mitre_persistence", "T1685", "mitre_defense_impairment"]}


# --- compare -----------------------------------------------------------------------------------
def test_compare_keys_tactics_by_id_and_shows_the_split(tmp_path: Path, v18: object, v19: object) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(rule("R", ["mitre_defense_evasion", "T1622"]) + rule("S", ["TA0005", "T1562.001"]))
    rs = load_rules(p)
    changes = tactic_change(coverage(rs, v18), coverage(rs, v19))  # type: ignore[arg-type]
    row = changes.set_index("tactic_id").loc["TA0005"]
    assert (row["name"], row["name_before"]) == ("Stealth", "Defense Evasion")
    assert changes["tactic_id"].is_unique and "TA0112" in set(changes["tactic_id"])
    assert len(tactic_moves(v18, v19)) == 4  # type: ignore[arg-type]
    drift = attack_drift(rs, v18, v19)  # type: ignore[arg-type]
    kinds = set(zip(drift["tag"], drift["change"]))
    assert {("mitre_defense_evasion", "tactic retired"), ("TA0005", "tactic renamed"),
            ("T1562.001", "revoked")} <= kinds
    retired = drift[drift["change"] == "tactic retired"].iloc[0]
    assert retired["new_tactics"] == ["stealth"]


def test_report_help_names_the_sides(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the BEFORE side: an older ATT&CK release" in text and "--before-attack-version" in text


# --- ATT&CK built in -----------------------------------------------------------------------------
def test_builtin_is_the_pinned_default_and_needs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from falco_coverage.attack import sources

    monkeypatch.setattr(sources, "download", lambda *a, **k: pytest.fail("no download for the pinned default"))
    a = load_attack()
    assert a.version == default_version() == builtin_versions()[-1] == "19.1"
    assert a.source_path is None and "built into falco-coverage" in a.origin and a.describe().startswith("ATT&CK 19.1")
    assert (BUILTIN_DIR / LICENSE_NAME).read_text().startswith("ATT&CK")
    assert sum(p.stat().st_size for p in BUILTIN_DIR.rglob("*") if p.is_file()) < 3 * 2**20


def test_builtin_snapshot_equals_the_bundle() -> None:
    bundle = parse_bundle(shared_path("attack", "enterprise-attack-19.1.json").read_bytes())
    built = load_attack(version="19.1")
    for name in ("tactics", "techniques", "technique_tactics", "detection_strategies", "analytics", "data_components",
                 "detections"):
        pd.testing.assert_frame_equal(getattr(built, name), getattr(bundle, name), check_categorical=True)
    assert built.spec_version == bundle.spec_version and built.spec_version


def test_latest_and_unavailable_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    from falco_coverage.attack import sources

    asked = []
    monkeypatch.setattr(sources, "newest_known", lambda domain="enterprise-attack": "19.1")
    real = sources.locate

    def spy(*a: object, **k: object) -> object:
        asked.append(k.get("version"))
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(sources, "locate", spy)
    assert load_attack(version="latest").version == "19.1" and asked == ["19.1"]
    monkeypatch.setenv("FALCO_COVERAGE_ATTACK_URL", "file:///nonexistent/{domain}-{version}.json")
    monkeypatch.setattr(sources, "expected_sha256", lambda *a, **k: "0" * 64)
    with pytest.raises(AttackSourceError) as info:
        load_attack(version="15.1")
    assert "not available offline" in str(info.value) and "built into falco-coverage: 13.1, 16.1, 18.1" in str(info.value)


def test_outputs_name_the_release_and_its_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(rule("R", ["mitre_execution", "T1059"]))
    main(["check", str(p)])
    assert "checked against ATT&CK 19.1 enterprise (built into falco-coverage" in capsys.readouterr().out
    main(["check", str(p), "--format", "sarif"])
    props = json.loads(capsys.readouterr().out)["runs"][0]["properties"]
    assert props["attackVersion"] == "19.1" and "built into" in props["attackSource"]
    main(["check", str(p), "--attack", str(MINI_21), "--format", "sarif"])
    assert json.loads(capsys.readouterr().out)["runs"][0]["properties"]["attackSource"] == str(MINI_21)


def test_a_deprecated_matrix_of_the_same_id_is_skipped(tmp_path: Path) -> None:
    doc = json.loads(MINI_21.read_text())
    live = next(o for o in doc["objects"] if o["type"] == "x-mitre-matrix")
    dead = json.loads(json.dumps(live))
    dead.update(id="x-mitre-matrix--dead", x_mitre_deprecated=True, tactic_refs=list(reversed(live["tactic_refs"])))
    tactic = json.loads(json.dumps(next(o for o in doc["objects"] if o["type"] == "x-mitre-tactic")))
    tactic.update(id="x-mitre-tactic--old", revoked=True, x_mitre_shortname="old-tactic")
    doc["objects"] = [dead, tactic] + doc["objects"]
    a = parse_bundle(json.dumps(doc).encode())
    ref = parse_bundle(MINI_21.read_bytes())
    assert list(a.tactics["shortname"]) == list(ref.tactics["shortname"])  # the live matrix's order
    assert "old-tactic" not in set(a.tactics["shortname"]) and not a.tactics["deprecated"].any()


def test_a_retired_tactic_is_not_also_a_missing_tactic(tmp_path: Path, v19: object) -> None:
    f = findings(tmp_path, v19, rule("R", ["mitre_defense_evasion", "T1070"]))
    # analytic-mismatch judges the rule's condition (a placeholder here), not its tags
    assert sorted(c for c in f["code"].astype(str) if c != "analytic-mismatch") == ["retired-tactic"]
