"""The graded observability verdict: each grading rule on a tiny STIX fixture, and the verdict held
against an independent review of 30 techniques drawn at random (``fixtures/observability-review.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from falco_coverage import load_attack
from falco_coverage.analysis.coverage.observability import observability, reference_verdicts
from falco_coverage.analysis.coverage.sensors import builtin_profile
from falco_coverage.analysis.coverage.verdict import channel_calls, grade_reference
from falco_coverage.config import parse_profile
from falco_coverage.rules.catalogue import builtin

from .conftest import MINI_21
from .detection_fixture import _obj, _ref, _tech_ref

REVIEW = Path(__file__).parent / "fixtures" / "observability-review.json"
COMPONENTS = ["Process Creation", "File Modification", "Network Connection Creation", "Network Traffic Content",
              "Application Log Content", "Logon Session Creation", "Host Status"]


def bundle(tmp_path: Path, analytics: dict[str, list[list[tuple[str, str | None, str]]]],
           name: str = "enterprise-attack-18.9.json") -> Path:
    """The mini bundle with one strategy per technique; each analytic (Linux) a list of (log, channel, component)."""
    doc = json.loads(MINI_21.read_text())
    dc = {c: _obj("x-mitre-data-component", 500 + i, name=c, external_references=_ref("DC", 500 + i, "x"))
          for i, c in enumerate(COMPONENTS)}
    doc["objects"] += list(dc.values())
    n = 600
    for k, (tid, ans) in enumerate(analytics.items()):
        refs = []
        for refs_of in ans:
            n += 1
            a = _obj("x-mitre-analytic", n, name=f"A{n}", description="d", x_mitre_platforms=["Linux"],
                     external_references=_ref("AN", n, "x"),
                     x_mitre_log_source_references=[{"name": log, "channel": chan, "x_mitre_data_component_ref":
                                                     dc[comp]["id"]} for log, chan, comp in refs_of])
            doc["objects"].append(a)
            refs.append(a["id"])
        s = _obj("x-mitre-detection-strategy", 700 + k, name=f"S{k}", x_mitre_analytic_refs=refs,
                 external_references=_ref("DET", 700 + k, "x"))
        doc["objects"] += [s, _obj("relationship", 800 + k, relationship_type="detects", source_ref=s["id"],
                                   target_ref=_tech_ref(tid, doc))]
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def grade(log: str | None, channel: str | None, component: str | None, source: str = "syscall") -> tuple[str, str]:
    return grade_reference(builtin_profile()[source], log, component, channel, builtin())


# --- one reference -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("log, channel, component, expected, because", [
    ("auditd:SYSCALL", "execve", "Process Creation", "full", "Falco captures execve by default"),
    ("auditd:SYSCALL", "open, write", "File Modification", "full", "write on files as the opens"),
    ("auditd:SYSCALL", "connect/sendto, write", "Network Traffic Content", "partial", "write only with all events"),
    ("auditd:SYSCALL", "connect", "Network Traffic Content", "partial", "not its content"),
    ("auditd:SYSCALL", "outbound connections", "Network Connection Creation", "full", "names no system call"),
    ("auditd:SYSCALL", None, "Host Status", "none", "does not record Host Status"),
    ("auditd:EXECVE", "execve", "Command Execution", "full", "proc.cmdline"),
    ("linux:syslog", "crontab edits", "File Modification", "none", "does not read logs"),
    ("linux:osquery", "processes", "Process Creation", "none", "osquery"),
    ("linux:cli", "history", "Command Execution", "none", "shell history"),
    ("NSM:Flow", "beacon", "Network Traffic Flow", "partial", "not the flow's volume"),
    ("NSM:Flow", "new peer", "Network Connection Creation", "full", "connect and accept events carry"),
    ("docker:events", "start", "Container Start", "partial", "container_started"),
    ("docker:events", "exec", "Process Creation", "full", "an execve Falco captures"),
    ("linux:Sysmon", "EventCode=1", "Process Creation", "full", "process creation"),
    ("linux:Sysmon", "EventCode=3, 22", "Network Connection Creation", "partial", "DNS query names"),
    ("fancy:newlog", "x", "Process Creation", "partial", "does not read fancy:newlog, but records"),
    ("fancy:newlog", "x", "Host Status", "none", "does not read fancy:newlog"),
    (None, None, "Process Creation", "full", "execve"),
    (None, None, "Pod Creation", "none", "does not record"),
])
def test_one_reference(log: str | None, channel: str | None, component: str, expected: str, because: str) -> None:
    got, why = grade(log, channel, component)
    assert got == expected and because in why, (got, why)


def test_generic_and_unknown_calls_in_a_channel() -> None:
    cat = builtin()
    generic = sorted(cat.events_generic)[0]
    assert grade("auditd:SYSCALL", f"execve, {generic}", "Process Creation")[0] == "partial"
    assert "without arguments" in grade("auditd:SYSCALL", f"execve, {generic}", "Process Creation")[1]
    assert channel_calls("open, write: writes under /etc/ssl", cat.events) == ("open", "write")
    assert channel_calls("pam_authenticate, sshd", cat.events) == ()  # not Falco event types


def test_a_configured_sensor_can_grade_its_own_logs() -> None:
    prof = parse_profile({"my_plugin": {"log_sources": {"saas:example": {"grade": "partial", "why": "sign-ins only"}},
                                        "data_components": {"Logon Session Creation": "sign-in events"}}}, "test")
    s = prof["my_plugin"]
    assert grade_reference(s, "saas:example", "Logon Session Creation", "x", builtin()) == ("partial", "sign-ins only")
    assert s.reads("saas:example") and not s.reads("other")


# --- techniques from their analytics ---------------------------------------------------------------------------------
def test_technique_levels_from_analytics(tmp_path: Path) -> None:
    a = load_attack(bundle(tmp_path, {
        # one analytic with every reference in full: full, however poor the others
        "T1059.004": [[("auditd:SYSCALL", "execve", "Process Creation"), ("auditd:PATH", "PATH", "File Modification")],
                      [("linux:syslog", "x", "Application Log Content")]],
        # every analytic has a reference served only in part or not at all: partial
        "T1053.003": [[("auditd:SYSCALL", "execve", "Process Creation"), ("linux:syslog", "x", "Application Log Content")],
                      [("NSM:Flow", "beacon", "Network Traffic Content")]],
        # nothing served: none, and what is missing says why
        "T1529": [[("linux:syslog", "shutdown", "Host Status")]],
    }), cache=False)
    obs = observability(a, ["syscall"], ["Linux"]).set_index("technique_id")
    assert (obs.loc["T1059.004", "observable"], obs.loc["T1059.004", "n_full"], obs.loc["T1059.004", "n_observed"]) \
        == ("full", 1, 1)
    assert (obs.loc["T1053.003", "observable"], obs.loc["T1053.003", "n_full"], obs.loc["T1053.003", "n_observed"]) \
        == ("partial", 0, 2)
    assert obs.loc["T1053.003", "missing"] == ["linux:syslog · Application Log Content · x: application and system "
                                               "log messages; the syscall source does not read logs (the journal "
                                               "plugin source reads the system journal)"]
    assert obs.loc["T1529", "observable"] == "none" and "does not read logs" in obs.loc["T1529", "missing"][0]
    refs = reference_verdicts(a, ["syscall"], ["Linux"])
    assert len(refs) == 7 and set(refs["grade"].astype(str)) == {"full", "partial", "none"}
    assert refs.loc[refs["log_source"] == "auditd:PATH", "sensor"].tolist() == ["syscall"]
    # no sensor that sees Linux: every reference none, said so
    refs = reference_verdicts(a, ["k8s_audit"], ["Linux"])
    assert (refs["grade"] == "none").all() and refs["why"].str.startswith("no sensor in scope observes").all()


def test_the_coverage_carries_the_verdicts_and_the_four_states(tmp_path: Path) -> None:
    from falco_coverage import load_rules
    from falco_coverage.analysis.coverage import coverage

    a = load_attack(bundle(tmp_path, {
        "T1059.004": [[("auditd:SYSCALL", "execve", "Process Creation")]],
        "T1053.003": [[("NSM:Flow", "beacon", "Network Traffic Content")]],
        "T1529": [[("linux:syslog", "shutdown", "Host Status")]]}), cache=False)
    rules = tmp_path / "r.yaml"
    rules.write_text("- rule: R\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n"
                     "  tags: [T1053]\n")
    cov = coverage(load_rules(rules), a, platforms=["Linux"])
    state = cov.techniques.drop_duplicates("technique_id").set_index("technique_id")["state"].astype(str)
    assert (state["T1053"], state["T1059.004"], state["T1053.003"], state["T1529"]) == \
        ("detected", "observable", "partly observable", "not observable")
    assert set(cov.references["technique_id"]) == {"T1059.004", "T1053.003", "T1529"}


# --- the verdict against an independent review -------------------------------------------------------------------------
def test_the_verdict_agrees_with_an_independent_review_of_30_random_techniques() -> None:
    review = json.loads(REVIEW.read_text())
    assert len(review["verdicts"]) == 30 and review["release"] == "19.1"
    a = load_attack(version=review["release"])
    obs = observability(a, review["sensors"], review["platforms"]).set_index("technique_id")
    ours = {v["technique_id"]: str(obs.loc[v["technique_id"], "observable"]) for v in review["verdicts"]}
    agree = [v["technique_id"] for v in review["verdicts"] if ours[v["technique_id"]] == v["verdict"]]
    print(f"observability verdict vs independent review: {len(agree)} of 30 agree")
    assert len(agree) >= 26, {v["technique_id"]: (ours[v["technique_id"]], v["verdict"]) for v in review["verdicts"]
                              if v["technique_id"] not in agree}
    # the disagreements are those docs/observability.md discusses: none is a full/none swap
    assert all({ours[v["technique_id"]], v["verdict"]} != {"full", "none"} for v in review["verdicts"])


def test_the_share_said_in_the_docs_is_the_share_computed() -> None:
    import re

    a = load_attack(version="19.1")
    t = a.techniques
    top = t[~t["is_subtechnique"] & ~t["revoked"] & ~t["deprecated"]
            & t["platforms"].map(lambda p: bool({"Linux", "Containers"} & set(p)))]
    obs = observability(a, ["syscall"], ["Linux", "Containers"]).set_index("technique_id").loc[top["technique_id"]]
    counts: dict[str, Any] = obs["observable"].astype(str).value_counts().to_dict()
    doc = (Path(__file__).parent.parent / "docs" / "observability.md").read_text()
    said = re.search(r"(\d+) of (\d+) top-level techniques are `full`, (\d+) `partial` and (\d+) `none`", doc)
    assert said, "docs/observability.md states the share"
    assert tuple(map(int, said.groups())) == (counts.get("full", 0), len(top), counts.get("partial", 0),
                                              counts.get("none", 0))


def test_every_field_the_profile_names_is_one_falco_has() -> None:
    """The audit's evidence is checkable: each Falco field (or event type) a profile entry cites exists
    for that source in the catalogue built into the package."""
    cat = builtin()
    cited = [(src, name, f) for src, s in builtin_profile().items() for name, fs in s.fields.items() for f in fs]
    assert len(cited) > 60
    unknown = [(src, name, f) for src, name, f in cited
               if not f.endswith("*") and f not in cat.events and cat.field_problem(src, f) is not None]
    assert unknown == []
    s = builtin_profile()["syscall"]
    listed = {n.casefold() for n in s.log_sources}
    # every log the profile credits (not graded none) says what serves it
    assert all(s.fields.get(n) for n in s.log_sources if s.grades.get(n.casefold(), "full") != "none"), \
        [n for n in s.log_sources if s.grades.get(n.casefold(), "full") != "none" and not s.fields.get(n)]
    assert {"linux:syslog", "linux:osquery", "linux:cli", "auditd:syscall", "nsm:flow"} <= listed
