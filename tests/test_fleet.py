"""summary.json, report --history and fleet, on generated rule-set variants whose differences are known."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from falco_coverage.analysis.summary.fleet import merge, summary_paths
from falco_coverage.analysis.summary import FIELDS, changes, read_summary, record_history
from falco_coverage.present.landing import Landing, landing_page
from falco_coverage.run.cli import build_parser
from falco_coverage.run.report import _trend, run_report

from .browser import inspect_pages
from .conftest import MINI_21
from .detection_fixture import write_bundle
from .cli import run_cli

REPO = Path(__file__).resolve().parents[1]

SHELL = """\
- rule: Shell
  desc: a shell in a container
  condition: evt.type = execve and proc.name = bash
  output: "shell (proc=%proc.name)"
  priority: NOTICE
  tags: [T1059.004, mitre_execution]
"""
CRON = """\
- rule: Cron
  desc: a crontab was written
  condition: evt.type = openat and fd.name startswith /etc/cron
  output: "cron (file=%fd.name)"
  priority: WARNING
  tags: [T1053.003, mitre_persistence]
"""
ANOTHER = """\
- rule: Another shell
  desc: a zsh shell
  condition: evt.type = execve and proc.name = zsh
  output: "zsh (proc=%proc.name)"
  priority: NOTICE
  tags: [T1059.004, mitre_execution]
"""
#: A: shell and cron; B: A and one more shell rule; C: A with cron disabled
VARIANTS = {"a": SHELL + CRON, "b": SHELL + CRON + ANOTHER, "c": SHELL + CRON + "- rule: Cron\n  enabled: false\n"}


def _rules(root: Path, variant: str) -> Path:
    d = root / "clusters" / variant
    d.mkdir(parents=True, exist_ok=True)
    (d / "rules.yaml").write_text(VARIANTS[variant])
    return d


def _summary(root: Path, variant: str, **kw: Any) -> dict[str, Any]:
    out = root / "reports" / variant
    options = {k: kw.pop(k) for k in ("history",) if k in kw}  # the rest is the request's
    run_report({"rules": [str(_rules(root, variant))], "attack": str(MINI_21), **kw}, out_dir=out,
               name=f"cluster-{variant}", summary_only=True, progress=False, **options)
    return json.loads((out / "summary.json").read_text())


def _paths(doc: Any, prefix: str = "") -> set[str]:
    """Every field path of a summary, in FIELDS' notation."""
    data_keyed = {"techniques", "rules.digests", "findings.by_code"}
    leaf = {"findings.by_code.{}", "findings.by_severity"}
    out = {prefix} if prefix else set()
    if prefix in leaf:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            sub = f"{prefix}.{{}}" if prefix in data_keyed else (f"{prefix}.{k}" if prefix else k)
            out |= _paths(v, sub)
    elif isinstance(doc, list):
        for v in doc:
            out |= _paths(v, f"{prefix}[]") - {f"{prefix}[]"}
    return out


def test_every_summary_field_is_documented_and_present(tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.json"
    alerts.write_text(json.dumps({"time": "2026-11-01T10:00:00Z", "rule": "Shell", "priority": "Notice",
                                  "source": "syscall", "hostname": "h", "tags": []}) + "\n")
    doc = _summary(tmp_path, "a", alerts=[str(alerts)])
    assert _paths(doc) == set(FIELDS)
    docs = (REPO / "docs" / "fleet.md").read_text()
    assert all(f"`{field}`" in docs for field in FIELDS)
    assert doc["techniques"]["T1059.004"]["fired"] == 1 and doc["techniques"]["T1053.003"]["fired"] == 0
    assert doc["techniques"]["T1059"] == {"name": "Command and Scripting Interpreter", "detected": True,
                                          "rules": ["Shell"], "observable": None, "fired": 1}
    assert doc["techniques"]["T1529"]["detected"] is False and doc["load_errors"] == 0
    covered = {t["tactic"]: t["covered"] for t in doc["tactics"]}
    assert covered["execution"] == 2 and covered["impact"] == 0  # T1059 (via .004) and T1053 (via .003)


def test_observable_where_the_release_has_a_detection_model(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "enterprise-attack-18.9.json")
    out = tmp_path / "reports"
    run_report({"rules": [str(_rules(tmp_path, "a"))], "attack": str(bundle)}, out_dir=out, name="x",
               summary_only=True, progress=False)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["techniques"]["T1059.004"]["observable"] == "full"
    assert doc["techniques"]["T1053"]["observable"] == "full" and doc["techniques"]["T1053.003"]["observable"] == "none"
    assert doc["techniques"]["T1059.004"]["fired"] is None  # no alerts in this run


def test_rerun_is_byte_identical_apart_from_the_date(tmp_path: Path) -> None:
    texts = []
    for _ in range(2):
        _summary(tmp_path, "b")
        texts.append((tmp_path / "reports" / "b" / "summary.json").read_text())
    generated = re.compile(r'"generated": "[^"]+"')
    assert len(generated.findall(texts[0])) == 1
    assert generated.sub("", texts[0]) == generated.sub("", texts[1])
    assert json.loads(texts[0])["rules"]["fingerprint"] != _summary(tmp_path, "c")["rules"]["fingerprint"]


def test_history_shows_techniques_gained_and_lost_with_their_rules(tmp_path: Path) -> None:
    history = tmp_path / "history"
    for variant in ("c", "a", "c"):
        _summary(tmp_path, variant, history=history)
    files = sorted(history.glob("*.json"))
    assert len(files) == 3 and {read_summary(f)["name"] for f in files} == {"cluster-c", "cluster-a"}
    runs = [read_summary(f) for f in files if read_summary(f)["name"] == "cluster-c"]
    assert len(runs) == 2
    a, c = _summary(tmp_path, "a"), _summary(tmp_path, "c")
    assert changes(c, a) == {"gained": [("T1053", ["Cron"]), ("T1053.003", ["Cron"])], "lost": []}
    assert changes(a, c) == {"gained": [], "lost": [("T1053", ["Cron"]), ("T1053.003", ["Cron"])]}
    # one name's runs: C, then A under C's name: the trend says what was gained, and by which rule
    named = dict(a, name="cluster-c", generated="2999-01-01T00:00:00Z")
    trend = _trend(record_history(history, named))
    assert [round(r[1], 3) for r in trend.runs] == [0.333, 0.333, 0.667]  # T1059 of 3; then T1053 too
    assert trend.gained == [("T1053", ["Cron"]), ("T1053.003", ["Cron"])] and trend.lost == []
    page = landing_page(Landing(headline=None, links=[], generated="now", version="0", attack="ATT&CK 2.1",
                                rule_files=[], trend=trend))
    assert "Over time" in page and "T1053.003 Cron <small>(Cron)</small>" in page and "<svg" in page


def _fleet(tmp_path: Path) -> dict[str, Any]:
    for variant in VARIANTS:
        _summary(tmp_path, variant)
    return merge(summary_paths([tmp_path / "reports"]), tmp_path / "fleet")


def test_fleet_merges_the_known_differences(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path)
    assert [c["name"] for c in fleet["clusters"]] == ["cluster-a", "cluster-b", "cluster-c"]
    t = fleet["techniques"]
    assert t["everywhere"] == ["T1059", "T1059.004"]
    assert t["somewhere"] == {"T1053": ["cluster-a", "cluster-b"], "T1053.003": ["cluster-a", "cluster-b"]}
    assert t["nowhere"] == ["T1529"]
    differ = {d["rule"]: d for d in fleet["rules_differ"]}
    assert set(differ) == {"Another shell", "Cron"}
    assert differ["Another shell"]["missing_in"] == ["cluster-a", "cluster-c"]
    assert differ["Cron"]["variants"] == 2 and differ["Cron"]["missing_in"] == []
    by_name = {c["name"]: c for c in fleet["clusters"]}
    assert by_name["cluster-c"]["tactics"]["persistence"] == [0, 1]
    assert by_name["cluster-a"]["tactics"]["persistence"] == [1, 1]
    assert by_name["cluster-a"]["fingerprint"] != by_name["cluster-b"]["fingerprint"]


def test_fleet_keeps_the_newest_summary_of_a_name(tmp_path: Path) -> None:
    _fleet(tmp_path)
    old = json.loads((tmp_path / "reports" / "a" / "summary.json").read_text())
    old.update(generated="2000-01-01T00:00:00Z", load_errors=99)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text(json.dumps(old))
    fleet = merge(summary_paths([tmp_path / "reports", tmp_path / "old"]))
    a = next(c for c in fleet["clusters"] if c["name"] == "cluster-a")
    assert a["load_errors"] == 0 and fleet["older_summaries_ignored"] == 1 and len(fleet["clusters"]) == 3


_cli = run_cli


@pytest.mark.parametrize("content, needle", [
    ('{"schema": "falco-coverage/summary",\n "name": ', "not valid JSON"),
    ('{"hello": 1}', "not a falco-coverage summary"),
    ('{"schema": "falco-coverage/summary", "schema_version": 99}', "newer than this falco-coverage reads"),
    ('{"schema": "falco-coverage/summary", "schema_version": 1, "name": "x"}', "must contain ['generated'"),
])
def test_fleet_bad_summary_is_one_line_exit_2(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = _cli("fleet", str(bad), "--out", str(tmp_path / "f"))
    assert r.returncode == 2 and needle in r.stderr and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "f").exists()


def _valid(tmp_path: Path) -> dict[str, Any]:
    return {"schema": "falco-coverage/summary", "schema_version": 1, "name": "c", "generated": "2026-01-01T00:00:00Z",
            "tactics": [{"tactic": "execution", "tactic_id": "TA0002", "name": "Execution", "applicable": 3,
                         "covered": 1}],
            "techniques": {"T1059": {"name": "Command", "detected": True, "rules": ["r"], "observable": None,
                                     "fired": None}},
            "rules": {"files": [], "fingerprint": "f", "digests": {"r": "d"}},
            "findings": {"by_code": {}, "by_severity": {"error": 0, "warning": 0}}, "load_errors": 0}


@pytest.mark.parametrize("change, needle", [
    ({"techniques": {"T1059": "yes"}}, "techniques.T1059 must be object"),
    ({"techniques": {"T1059": {"detected": "true"}}}, "techniques.T1059.detected must be boolean"),
    ({"findings": []}, "findings must be object"),
    ({"findings": {"by_severity": {"error": "3"}}}, "findings.by_severity.error must be integer"),
    ({"load_errors": "<meta http-equiv=refresh content='0;url=https://evil.example'>"}, "load_errors must be integer"),
    ({"load_errors": -1}, "load_errors must be bigger than or equal to 0"),
    ({"tactics": [{"tactic": "x", "name": "y", "applicable": "3", "covered": 1}]}, "tactics.0.applicable must be"),
    ({"tactics": {"tactic": "x"}}, "tactics must be array"),
    ({"rules": {"digests": ["r"]}}, "rules.digests must be object"),
])
def test_fleet_summary_of_wrong_types_is_refused(tmp_path: Path, change: dict[str, Any], needle: str) -> None:
    bad = tmp_path / "summary.json"
    bad.write_text(json.dumps({**_valid(tmp_path), **change}))
    r = _cli("fleet", str(bad), "--out", str(tmp_path / "f"))
    assert r.returncode == 2 and needle in r.stderr and str(bad) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "f").exists()


def test_fleet_refuses_devices_pipes_and_huge_summaries(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with (tmp_path / "huge.json").open("wb") as fh:
        fh.truncate(100 << 20)  # sparse: nothing to read, but over the budget on paper
    for name, needle in [("fifo.json", "not a regular file"), ("zero.json", "not a regular file"),
                         ("huge.json", "files over 16 MiB are refused")]:
        r = _cli("fleet", str(tmp_path / name), "--out", str(tmp_path / "f"))
        assert r.returncode == 2 and needle in r.stderr and name in r.stderr, r.stderr
    many = tmp_path / "many"
    for i in range(9):  # each under the budget of one summary, together over the fleet's
        (many / str(i)).mkdir(parents=True)
        with (many / str(i) / "summary.json").open("wb") as fh:
            fh.truncate(15 << 20)
    r = _cli("fleet", str(many), "--out", str(tmp_path / "f"))
    assert r.returncode == 2 and "more than 128 MiB together" in r.stderr, r.stderr


def test_fleet_page_links_stay_relative_and_escape(tmp_path: Path) -> None:
    """A cluster directory named like a URL scheme links as a relative path; text never becomes markup."""
    weird = tmp_path / "javascript:alert(1)"
    weird.mkdir()
    doc = {**_valid(tmp_path), "name": "<script>alert(1)</script>"}
    (weird / "summary.json").write_text(json.dumps(doc))
    (weird / "index.html").write_text("report")
    r = _cli("fleet", str(weird / "summary.json"), "--out", str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "f" / "index.html").read_text()
    assert 'href="../javascript%3Aalert%281%29/index.html"' in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_fleet_never_writes_over_an_input(tmp_path: Path) -> None:
    run = tmp_path / "cluster"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(_valid(tmp_path)))
    (run / "index.html").write_text("the cluster's own report")
    (tmp_path / "link").symlink_to(run)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "summary.json").symlink_to(run / "summary.json")
    for given, out in [(run, run), (run, tmp_path / "link"), (tmp_path / "elsewhere" / "summary.json", run)]:
        r = _cli("fleet", str(given), "--out", str(out))
        assert r.returncode == 2 and "would overwrite" in r.stderr, (given, out, r.stderr)
    assert (run / "index.html").read_text() == "the cluster's own report"


def test_history_of_summaries_without_rule_lists(tmp_path: Path) -> None:
    """An older summary whose techniques name no rules still makes a trend."""
    old = {**_valid(tmp_path), "generated": "2025-01-01T00:00:00Z",
           "techniques": {"T1059": {"detected": True}, "T1005": {"detected": True}}}
    h = tmp_path / "h"
    h.mkdir()
    (h / "c--old.json").write_text(json.dumps(old))
    runs = record_history(h, _valid(tmp_path))
    assert changes(runs[0], runs[1]) == {"gained": [], "lost": [("T1005", [])]}


def test_fleet_missing_inputs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for target, needle in ((tmp_path / "nope", "no such summary file"), (tmp_path / "empty", "no summary.json")):
        r = _cli("fleet", str(target), "--out", str(tmp_path / "f"))
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _report_cli(job: tuple[str, str, str]) -> int:
    rules, name, out = job
    return subprocess.run([sys.executable, "-m", "falco_coverage", "report", rules, "--name", name, "--summary-only",
                           "--out", out, "--attack", str(MINI_21)], capture_output=True, check=False).returncode


@pytest.mark.slow
def test_local_fan_out_like_the_recipes(tmp_path: Path) -> None:
    """The recipes' commands: one `report --summary-only` per rule set side by side, then `fleet`."""
    jobs = []
    for i, variant in enumerate(["a", "b", "c", "a"]):
        rules = _rules(tmp_path / f"set{i}", variant)
        jobs.append((str(rules), f"cluster-{i}", str(tmp_path / "reports" / f"cluster-{i}")))
    with ProcessPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(_report_cli, jobs)) == [0, 0, 0, 0]
    r = _cli("fleet", str(tmp_path / "reports"), "--out", str(tmp_path / "fleet"))
    assert r.returncode == 0, r.stderr
    assert "4 cluster(s): 2 techniques detected everywhere, 2 somewhere, 1 nowhere; 2 rule(s) differ" in r.stderr
    fleet = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    assert [c["name"] for c in fleet["clusters"]] == ["cluster-0", "cluster-1", "cluster-2", "cluster-3"]
    seen = inspect_pages([tmp_path / "fleet" / "index.html"], tmp_path)["index.html"]
    assert seen["external"] == [] and int(str(seen["scroll_width"])) <= 1400
    text = str(seen["text"])
    assert "ATT&CK coverage across the fleet" in text and "Another shell" in text and "T1053.003" in text
    assert "None" not in text and "nan" not in text


@pytest.mark.slow
def test_full_report_writes_the_summary_and_shows_the_trend(tmp_path: Path) -> None:
    history = tmp_path / "history"
    for variant in ("c", "a"):
        out = tmp_path / "reports"
        result = run_report({"rules": [str(_rules(tmp_path, variant))], "attack": str(MINI_21)}, out_dir=out,
                            name="prod", notebooks=["mistagged"], history=history, progress=False)
        assert result.failed == []
    assert read_summary(out / "summary.json")["rules"]["digests"].keys() == {"Shell", "Cron"}
    seen = inspect_pages([out / "index.html"], tmp_path)["index.html"]
    assert "Over time" in str(seen["text"]) and "Gained since the previous run" in str(seen["text"])
    assert seen["external"] == []
    fleet = merge(summary_paths([out]), tmp_path / "fleet")
    assert fleet["clusters"][0]["report"] == "../reports/index.html"  # the link to the cluster's own report


def _commands(text: str) -> list[list[str]]:
    """The falco-coverage command lines in a recipe, placeholders filled in."""
    text = re.sub(r"\$\{\{[^}]+\}\}|\{\{[^}]+\}\}", "demo", text)
    return [shlex.split(line[line.index("falco-coverage") + len("falco-coverage"):])
            for line in text.splitlines() if re.search(r"run: falco-coverage \w", line)]


def test_recipes_parse_and_their_commands_exist() -> None:
    parser = build_parser()
    gha = (REPO / "docs" / "recipes" / "github-actions.yml").read_text()
    assert set(yaml.safe_load(gha)["jobs"]) == {"report", "fleet"}
    commands = _commands(gha)
    argo = yaml.safe_load((REPO / "docs" / "recipes" / "argo-cronworkflow.yaml").read_text())
    templates = {t["name"]: t for t in argo["spec"]["workflowSpec"]["templates"]}
    assert "withParam" in json.dumps(templates["nightly"])
    for key in ("report", "fleet"):
        args = [re.sub(r"\{\{[^}]+\}\}", "demo", str(a)) for a in templates[key]["container"]["args"]]
        commands.append(args)
    dag = (REPO / "docs" / "recipes" / "airflow_dag.py").read_text()
    compile(dag, "airflow_dag.py", "exec")
    assert ".expand(cluster=" in dag and '"falco-coverage", "fleet"' in dag
    kinds = [c[0] for c in commands]
    assert kinds.count("report") == 2 and kinds.count("fleet") == 2
    for cmd in commands:
        args = parser.parse_args(cmd)  # exits (a failure) on an option the command line does not have
        assert args.command in ("report", "fleet")
    import inspect as _inspect

    from dataclasses import fields as _fields

    from falco_coverage.run.report import ReportOptions

    accepted = set(_inspect.signature(run_report).parameters) | {f.name for f in _fields(ReportOptions)}
    call = re.search(r"run_report\((.*?)\)\n", dag, re.S)
    assert call is not None
    assert set(re.findall(r"(\w+)=", call.group(1))) <= accepted


def test_report_history_and_summary_bad_input(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "a")
    not_dir = tmp_path / "history.txt"
    not_dir.write_text("x")
    r = _cli("report", str(rules), "--summary-only", "--out", str(tmp_path / "o"), "--history", str(not_dir),
             "--attack", str(MINI_21))
    assert r.returncode == 2 and "not a directory for the run history" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o" / "summary.json").exists()
    r = _cli("report", str(rules), "--summary-only", "--out", str(tmp_path / "o"), "--platform", "Amiga",
             "--attack", str(MINI_21))
    assert r.returncode == 2 and "Amiga" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_trend_counts_a_load_error_once(tmp_path: Path) -> None:
    d = tmp_path / "clusters" / "broken"
    d.mkdir(parents=True)
    (d / "rules.yaml").write_text(SHELL + "- rule: Broken\n  desc: x\n  condition: no_such_macro\n  output: x\n"
                                          "  priority: WARNING\n")
    out = tmp_path / "reports"
    run_report({"rules": [str(d)], "attack": str(MINI_21)}, out_dir=out, name="broken", summary_only=True,
               progress=False, history=tmp_path / "history")
    doc = read_summary(out / "summary.json")
    assert doc["load_errors"] == 1 and doc["findings"]["by_code"]["ERROR_UNDEFINED_MACRO"] == {"error": 1}
    trend = _trend(record_history(tmp_path / "history", doc))
    assert trend.runs[-1][2] == doc["findings"]["by_severity"]["error"]  # not that plus load_errors


def _record(job: tuple[str, str]) -> str:
    directory, doc = job
    return str(record_history(Path(directory), json.loads(doc)) and "ok")


def test_history_keeps_every_run_written_in_the_same_second(tmp_path: Path) -> None:
    """Four processes record the same name at the same time: four entries, none overwritten."""
    doc = json.dumps(_valid(tmp_path))
    with ProcessPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(_record, [(str(tmp_path / "h"), doc)] * 4)) == ["ok"] * 4
    entries = sorted(p.name for p in (tmp_path / "h").iterdir())
    assert entries == ["c--20260101T000000Z-2.json", "c--20260101T000000Z-3.json", "c--20260101T000000Z-4.json",
                       "c--20260101T000000Z.json"]
    assert all(read_summary(tmp_path / "h" / e)["name"] == "c" for e in entries)


def test_history_leaves_out_pipes_devices_and_broken_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    h = tmp_path / "h"
    h.mkdir()
    os.mkfifo(h / "c--1fifo.json")
    (h / "c--2zero.json").symlink_to("/dev/zero")
    (h / "c--3typed.json").write_text(json.dumps({**_valid(tmp_path), "techniques": []}))
    runs = record_history(h, _valid(tmp_path))
    assert len(runs) == 1
    err = capsys.readouterr().err
    assert err.count("left out of the trend") == 3 and "not a regular file" in err and "techniques must be object" in err
