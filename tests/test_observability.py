"""ATT&CK's detection model, the sensor profile, observability and the three-way coverage, on a hand-written fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.analysis.coverage import coverage
from falco_coverage.analysis.tags.detection_fit import rule_detections, rule_terms
from falco_coverage.analysis.coverage.observability import observability
from falco_coverage.analysis.coverage.sensors import builtin_profile, profile_frame, sensor_profile
from falco_coverage.config import DEFAULT_SOURCE_PLATFORMS, CheckConfig, ConfigError, load_config
from falco_coverage.present.layers import to_navigator
from falco_coverage.run.cli import main

from .conftest import MINI_21
from .detection_fixture import write_bundle

RULE = """\
- rule: {name}
  desc: test
  condition: {condition}
  output: "x %proc.name"
  priority: WARNING
  source: {source}
  tags: [{tags}]
"""


def rules_file(tmp_path: Path, *rules: tuple[str, str, str] | tuple[str, str, str, str]) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text("".join(RULE.format(name=r[0], condition=r[1], tags=r[2], source=r[3] if len(r) > 3 else "syscall")
                         for r in rules))
    return p


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "enterprise-attack-18.9.json")


@pytest.fixture
def attack(bundle: Path):  # type: ignore[no-untyped-def]
    return load_attack(bundle, cache=False)


def levels(df: pd.DataFrame) -> dict[str, tuple[str, int, int]]:
    return {t: (str(o), int(a), int(n)) for t, o, a, n in
            zip(df["technique_id"], df["observable"], df["n_analytics"], df["n_observed"])}


# --- the frames ----------------------------------------------------------------------------------------------------

def test_detection_frames_are_read_in_the_same_pass(attack) -> None:  # type: ignore[no-untyped-def]
    s = attack.detection_strategies.set_index("strategy_id")
    assert sorted(s.index) == ["DET0001", "DET0002", "DET0003", "DET0004"]  # DET0005 is revoked
    assert s.loc["DET0003", "technique_ids"] == ["T1053"]
    assert s.loc["DET0003", "analytic_ids"] == ["AN0004", "AN0005", "AN0006"]  # AN0009 is deprecated
    an = attack.analytics.set_index("analytic_id")
    assert an.loc["AN0005", "platforms"] == ["Containers"] and an.loc["AN0005", "strategy_id"] == "DET0003"
    d = attack.detections
    assert len(d) == 8 and set(d["analytic_id"]) == {f"AN000{i}" for i in range(1, 9)}  # one log source each
    row = d[d["analytic_id"] == "AN0003"].iloc[0]
    assert (row["technique_id"], row["log_source"], row["channel"], row["data_component"]) == \
        ("T1053.003", "linux:syslog", "crontab edits", "File Modification")
    assert set(attack.data_components["data_component_id"]) >= {"DC0032", "DC0019"}


def test_frames_survive_the_cache(bundle: Path) -> None:
    first = load_attack(bundle)
    second = load_attack(bundle)  # from the cache
    for name in ("detection_strategies", "analytics", "data_components", "detections"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_a_release_without_the_model_has_empty_frames(mini21: Path) -> None:
    a = load_attack(mini21, cache=False)
    assert a.detections.empty and a.analytics.empty and list(a.detections.columns)[0] == "technique_id"


def test_built_in_releases_carry_the_model() -> None:
    a = load_attack(version="19.1")
    assert len(a.detection_strategies) > 600 and len(a.analytics) > 1500
    old = load_attack(version="13.1")  # data components detected techniques directly then
    assert old.analytics.empty and len(old.detections) > 1000 and old.detections["strategy_id"].isna().all()


def test_hostile_detection_objects_do_not_crash(tmp_path: Path) -> None:
    doc = json.loads(MINI_21.read_text())
    doc["objects"] += [
        {"type": "x-mitre-analytic", "id": "x-mitre-analytic--1", "x_mitre_platforms": "Linux",
         "x_mitre_log_source_references": ["nope", {"name": 3}], "external_references": [{"source_name": "mitre-attack",
                                                                                           "external_id": "AN1"}]},
        {"type": "x-mitre-detection-strategy", "id": "x-mitre-detection-strategy--1", "x_mitre_analytic_refs": "x"},
        {"type": "x-mitre-detection-strategy", "id": "x-mitre-detection-strategy--2",
         "x_mitre_analytic_refs": ["x-mitre-analytic--1", 5]},
        {"type": "relationship", "relationship_type": "detects", "source_ref": "x-mitre-detection-strategy--2",
         "target_ref": "attack-pattern--00000000-0000-4000-8000-000000001059"},
        {"type": "x-mitre-data-component", "id": 7},
    ]
    p = tmp_path / "hostile.json"
    p.write_text(json.dumps(doc))
    a = load_attack(p, cache=False)
    assert list(a.analytics["platforms"]) == [[]]  # a platform that is not a list is no platform
    assert a.detections["log_source"].isna().all()


# --- the sensor profile --------------------------------------------------------------------------------------------

def test_every_source_is_in_the_profile_with_a_reason() -> None:
    prof = builtin_profile()
    assert set(DEFAULT_SOURCE_PLATFORMS) <= set(prof)
    for sensor in prof.values():
        assert sensor.why, sensor.source
        assert all(sensor.log_sources.values()) and all(sensor.data_components.values()), sensor.source
    assert prof["syscall"].reads("AUDITD:syscall") and not prof["syscall"].reads("kubernetes:audit")
    assert prof["k8s_audit"].records("pod creation")
    frame = profile_frame()
    assert set(frame["kind"].astype(str)) == {"log source", "data component"}
    assert frame.loc[(frame["source"] == "syscall") & (frame["name"] == "Process Creation"), "evt_types"].iloc[0][0] \
        == "execve"


def test_profile_evt_types_are_falco_event_types() -> None:
    from falco_coverage.rules.catalogue import catalogue

    known = set(catalogue().events)
    for sensor in builtin_profile().values():
        for types in sensor.evt_types.values():
            assert set(types) - {"*"} <= known, sensor.source


def test_configuration_replaces_a_source(tmp_path: Path) -> None:
    cfg = tmp_path / ".falco-coverage.yaml"
    cfg.write_text("sensors:\n  syscall:\n    log_sources: []\n    data_components: [Host Status]\n")
    loaded = load_config(cfg)
    prof = sensor_profile(loaded.sensors)
    assert prof["syscall"].records("Host Status") and not prof["syscall"].reads("auditd:SYSCALL")
    assert prof["k8s_audit"] is builtin_profile()["k8s_audit"]


@pytest.mark.parametrize("text, needle", [
    ("sensors: [syscall]\n", "'sensors' must map"),
    ("sensors:\n  syscall: {log_sources: 3}\n", "must be a list of names"),
    ("sensors:\n  syscall: {logsources: []}\n", "unknown key"),
])
def test_bad_sensor_configuration_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], bundle: Path,
                                              text: str, needle: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    rules = rules_file(tmp_path, ("R", "proc.name = x", "T1053"))
    code = main(["coverage", str(rules), "--attack", str(bundle), "--config", str(cfg)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(errors) == 1 and needle in errors[0] and str(cfg) in errors[0] and "Traceback" not in err


def test_config_shape_is_checked_at_load(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sensors: [syscall]\n")
    with pytest.raises(ConfigError):
        load_config(cfg)


# --- observability -------------------------------------------------------------------------------------------------

def test_observability_by_hand(attack) -> None:  # type: ignore[no-untyped-def]
    obs = observability(attack, ["syscall"], ["Linux", "Containers"])
    got = levels(obs)
    assert got["T1059.004"] == ("full", 1, 1)
    # linux:syslog is a log Falco's syscall source does not read: its File Modification does not count
    assert got["T1053.003"] == ("none", 1, 0)
    assert got["T1053"] == ("full", 2, 1)  # one analytic served in full is a way to see it
    assert got["T1529"] == ("none", 1, 0)
    assert got["T1059"] == ("none", 0, 0)
    rows = obs.set_index("technique_id")
    row = rows.loc["T1053"]
    assert row["missing"] == [] and row["sensors"] == ["syscall"] and row["strategy_ids"] == ["DET0003"]
    assert row["analytics"] == ["AN0004"] and row["log_sources"] == ["auditd:SYSCALL"] and row["n_full"] == 1
    assert len(rows.loc["T1053.003", "missing"]) == 1
    assert rows.loc["T1053.003", "missing"][0].startswith("linux:syslog · File Modification · crontab edits: ")


def test_more_sensors_see_more(attack) -> None:  # type: ignore[no-untyped-def]
    got = levels(observability(attack, ["syscall", "k8s_audit"], ["Linux", "Containers"]))
    assert got["T1053"] == ("full", 2, 2)
    got = levels(observability(attack, ["aws_cloudtrail", "syscall"], ["Linux", "IaaS"]))
    assert got["T1529"] == ("full", 2, 1)  # the IaaS analytic is served in full by CloudTrail
    got = levels(observability(attack, ["k8s_audit"], ["Linux"]))  # k8s_audit observes no Linux analytic
    assert got["T1053"] == ("none", 1, 0)


def test_before_v18_data_components_count(tmp_path: Path) -> None:
    a = load_attack(write_bundle(tmp_path / "enterprise-attack-16.9.json", pre_v18=True), cache=False)
    got = levels(observability(a, ["syscall"], ["Linux", "Containers"]))
    assert got["T1059.004"] == ("full", 1, 1)
    assert got["T1053"] == ("partial", 2, 1)  # Process Creation recorded, Pod Creation not
    assert got["T1529"] == ("none", 1, 0)


def test_coverage_three_way_view(tmp_path: Path, attack) -> None:  # type: ignore[no-untyped-def]
    rules = rules_file(tmp_path, ("Shell", "evt.type = execve and proc.name = bash", "mitre_execution, T1059.004"))
    cov = coverage(load_rules(rules), attack)
    top = cov.techniques.drop_duplicates("technique_id").set_index("technique_id")
    assert top.loc["T1059", "state"] == "detected"  # through its sub-technique
    assert top.loc["T1053", "state"] == "observable" and top.loc["T1529", "state"] == "not observable"
    assert cov.summary()["observable"] == 1 and cov.summary()["not_observable"] == 1
    assert list(cov.gaps["technique_id"]) == ["T1053", "T1529"]  # the observable gap first
    assert cov.gaps.set_index("technique_id").loc["T1053", "strategy_ids"] == ["DET0003"]
    t = cov.tactics.set_index("tactic")
    assert t.loc["persistence", "observable"] == 1 and t.loc["impact", "not_observable"] == 1
    assert "observable, not detected: 1" in repr(cov) and cov.scope.sensors == ("syscall",)


def test_gaps_rank_observable_first_even_when_less_used(tmp_path: Path, attack) -> None:  # type: ignore[no-untyped-def]
    rules = rules_file(tmp_path, ("Other", "proc.name = x", "T1059.004"))
    cov = coverage(load_rules(rules), attack)
    groups = cov.gaps.set_index("technique_id")["n_groups"]
    assert groups["T1529"] >= groups["T1053"] or list(cov.gaps["technique_id"])[0] == "T1053"
    assert list(cov.gaps["observable"].astype(str)) == ["full", "none"]


def test_sensors_widen_what_counts(tmp_path: Path, attack) -> None:  # type: ignore[no-untyped-def]
    rules = rules_file(tmp_path, ("Shell", "proc.name = bash", "T1059.004"))
    cov = coverage(load_rules(rules), attack, sensors=["syscall", "k8s_audit"])
    obs = cov.observability.set_index("technique_id")
    assert obs.loc["T1053", "observable"] == "full"
    profile = {"syscall": {"log_sources": [], "data_components": []}}
    from falco_coverage.config import CheckConfig, parse_profile

    cov = coverage(load_rules(rules), attack, config=CheckConfig(sensors=parse_profile(profile, "test")))
    assert set(cov.observability["observable"].astype(str)) == {"none"}


def test_no_detection_model_is_said_not_guessed(tmp_path: Path, mini21: Path) -> None:
    rules = rules_file(tmp_path, ("Shell", "proc.name = bash", "T1059.004"))
    cov = coverage(load_rules(rules), load_attack(mini21, cache=False))
    assert not cov.has_observability and cov.techniques["state"].isna().all()
    assert any("no detection model" in n for n in cov.scope.notes)
    from falco_coverage import plots

    with pytest.raises(ValueError, match="detection model"):
        plots.matrix_heatmap(cov, color="state")


# --- rules and the analytics of their techniques -------------------------------------------------------------------

def test_rule_terms_skip_negations_and_event_types() -> None:
    terms = rule_terms("evt.type in (execve, ptrace) and proc.name in (crontab, at) and not fd.name = /etc/skip "
                       "and fd.name startswith /var/spool/cron/")
    assert {"crontab", "/var/spool/cron/", "cron"} <= terms
    assert "/etc/skip" not in terms and "execve" not in terms and "at" not in terms
    assert rule_terms(None) == set() and rule_terms("(((") == set()


def test_fit_match_partial_none(tmp_path: Path, attack) -> None:  # type: ignore[no-untyped-def]
    rules = rules_file(
        tmp_path,
        ("Crontab", "evt.type in (open, openat) and fd.name startswith /var/spool/cron", "T1053.003"),
        ("Spawn", "evt.type = execve and proc.name = foo", "T1053"),
        ("At", "evt.type = execve and proc.name in (atd)", "T1053"),
        ("Connect", "evt.type = connect and fd.sport = 4444", "T1053.003"),
        ("Windows only", "proc.name = x", "T1059"),
    )
    d = rule_detections(load_rules(rules).rules, attack).set_index("rule")
    assert d.loc["Crontab", "fit"] == "match" and "/var/spool/cron" in d.loc["Crontab", "evidence"]
    assert d.loc["At", "fit"] == "match" and d.loc["At", "evidence"] == ["atd"]
    assert d.loc["Spawn", "fit"] == "partial"  # execve records Process Creation, but nothing AN0004 names
    assert d.loc["Connect", "fit"] == "none"  # connect records no File Modification
    assert pd.isna(d.loc["Windows only", "fit"])  # T1059 has no analytic the syscall source serves
    assert d.loc["Crontab", "strategy_ids"] == ["DET0002"] and d.loc["Crontab", "analytic_ids"] == ["AN0003"]


def test_analytic_mismatch_is_an_info_finding_at_the_tag(tmp_path: Path, attack) -> None:  # type: ignore[no-untyped-def]
    rules = rules_file(tmp_path, ("Crontab", "fd.name startswith /var/spool/cron and evt.type = openat",
                                  "mitre_persistence, T1053.003"),
                       ("Connect", "evt.type = connect and fd.sport = 4444", "mitre_persistence, T1053.003"))
    f = check(load_rules(rules), attack, config=CheckConfig())
    hits = f[f["code"] == "analytic-mismatch"]
    assert list(hits["rule"]) == ["Connect"] and (hits["severity"] == "info").all()
    assert hits["tag"].iloc[0] == "T1053.003" and int(hits["line"].iloc[0]) == 14
    assert "AN0003" in hits["message"].iloc[0] and "File Modification" in hits["message"].iloc[0]
    off = check(load_rules(rules), attack, config=CheckConfig(disabled={"analytic-mismatch"}))
    assert "analytic-mismatch" not in set(off["code"].astype(str))


# --- outputs -------------------------------------------------------------------------------------------------------

def test_cli_json_and_table(tmp_path: Path, bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = rules_file(tmp_path, ("Shell", "proc.name = bash", "T1059.004"))
    assert main(["coverage", str(rules), "--attack", str(bundle), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    states = {t["technique_id"]: t["state"] for t in doc["techniques"]}
    assert states["T1053"] == "observable" and states["T1529"] == "not observable"
    assert doc["gaps"][0]["observable"] == "full" and doc["scope"]["sensors"] == ["syscall"]
    assert {o["technique_id"]: o["observable"] for o in doc["observability"]}["T1059.004"] == "full"
    assert main(["coverage", str(rules), "--attack", str(bundle), "--sensor", "k8s_audit", "--sensor", "syscall"]) == 0
    out = capsys.readouterr().out
    assert "more observable by k8s_audit, syscall" in out and "not_observable" in out
    assert main(["coverage", str(rules), "--attack", str(bundle), "--sensor", "nosuch"]) == 2
    assert "unknown source 'nosuch'" in capsys.readouterr().err


def test_navigator_states(tmp_path: Path, attack, bundle: Path, mini21: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    rules = rules_file(tmp_path, ("Shell", "proc.name = bash", "T1059.004"))
    layer = to_navigator(coverage(load_rules(rules), attack), "x", states=True)
    colour = {t["techniqueID"]: t["color"] for t in layer["techniques"]}
    assert colour["T1053"] == "#E69F00" and colour["T1529"] == "#e4e4e4" and colour["T1059.004"] == "#56B4E9"
    assert [i["label"] for i in layer["legendItems"]] == ["detected", "observable", "partly observable",
                                                          "not observable"]
    t1053 = next(t for t in layer["techniques"] if t["techniqueID"] == "T1053")
    assert any("DET0003" in link["url"] for link in t1053["links"])
    from mitreattack.navlayers import Layer

    assert Layer(init_data=layer).to_dict() == layer  # the Navigator's format, as mitreattack-python reads it
    out = tmp_path / "l.json"
    assert main(["layer", str(rules), "--attack", str(mini21), "-o", str(out), "--states"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "detection model" in errors[0] and "Traceback" not in err and not out.exists()


def test_profile_names_are_attack_names() -> None:
    """A typo in the profile would silently observe nothing: every name must be one ATT&CK uses."""
    components: set[str] = set()
    logs: set[str] = set()
    for version in ("18.1", "19.1"):
        a = load_attack(version=version)
        components |= {c.casefold() for c in a.data_components["name"]}
        logs |= {str(n).casefold() for n in a.detections["log_source"].dropna()}
    for sensor in builtin_profile().values():
        assert {c.casefold() for c in sensor.data_components} <= components, sensor.source
        assert {n.casefold() for n in sensor.log_sources} <= logs, sensor.source


def test_the_sensor_doc_is_written_from_the_profile() -> None:
    import subprocess
    import sys

    from .conftest import REPO

    r = subprocess.run([sys.executable, str(REPO / "data" / "build_sensor_docs.py"), "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = (REPO / "docs" / "observability.md").read_text()
    assert all(f"`{source}`" in doc for source in builtin_profile())


def test_detection_frames_are_built_only_when_asked(bundle: Path, isolated_env: Path) -> None:
    a = load_attack(bundle)
    assert a._detection is None  # loading ATT&CK does not pay for the detection model
    first = a.detections.copy()
    stored = list((isolated_env / "frames").glob("*.detection.json"))
    assert len(stored) == 1  # built once, then kept in the cache beside the core frames
    again = load_attack(bundle)
    pd.testing.assert_frame_equal(again.detections, first)
    stored[0].write_bytes(b"garbage")  # a corrupt entry is dropped and rebuilt from the bundle
    pd.testing.assert_frame_equal(load_attack(bundle).detections, first)
    without = load_attack(bundle, cache=False)
    pd.testing.assert_frame_equal(without.detections, first)


def test_no_rule_in_scope_still_shows_what_syscall_sees(tmp_path: Path, attack) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "broken.yaml"
    rules.write_text("- rule: broken\n  condition: (evt.type = open\n  output: x\n  priority: WARNING\n")
    cov = coverage(load_rules(rules), attack)
    assert cov.scope.n_rules == 0 and cov.scope.sensors == ("syscall",)
    assert cov.summary()["observable"] > 0  # the same default as the platforms, not everything "not observable"
