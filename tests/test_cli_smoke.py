"""One real process per command, on the small fixtures: the console script's exit codes, streams and
flushing (the other CLI tests run the command line in-process, which is faster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli import run_process
from .conftest import FIXTURES

BASE = str(FIXTURES / "rules" / "base.yaml")
OWN = str(FIXTURES / "rules" / "own.yaml")
ALERTS = str(FIXTURES / "alerts.jsonl")


def test_check_gates_on_own_files_with_json() -> None:
    r = run_process("check", OWN, "--base", BASE, "--format", "json")
    assert r.returncode == 1, r.stderr
    found = {(f["rule"], f["code"], f["line"]) for f in json.loads(r.stdout)}
    assert ("Netcat remote shell", "tactic-mismatch", 17) in found
    assert ("Crontab edited", "unknown-tactic", 24) in found
    assert all(f["file"].endswith("own.yaml") for f in json.loads(r.stdout))  # base findings are not ours
    assert run_process("check", OWN, "--base", BASE, "--fail-on", "never").returncode == 0


@pytest.mark.parametrize("args, expect", [
    (["rules", BASE, OWN, "--format", "json"], "Netcat remote shell"),
    (["lint", BASE, OWN], ""),
    (["fix", OWN, "--base", BASE], "+  tags: [mitre_persistence, T1053.003]"),
    (["suggest", BASE, OWN, "--rule", "Nothing tagged", "--format", "json"], "Nothing tagged"),
    (["coverage", BASE, OWN, "--format", "json"], "T1053.003"),
    (["alerts", BASE, OWN, "--alerts", ALERTS, "--format", "json"], "Terminal shell in container"),
    (["attack", "info"], "ATT&CK enterprise-attack 19.1"),
    (["--version"], "0.1.0"),
])
def test_each_command_runs_as_a_process(args: list[str], expect: str) -> None:
    r = run_process(*args)
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout and "Traceback" not in r.stderr


def test_layer_summary_and_fleet_write_their_files(tmp_path: Path) -> None:
    layer = tmp_path / "layer.json"
    assert run_process("layer", BASE, OWN, "-o", str(layer)).returncode == 0
    cells = {t["techniqueID"] for t in json.loads(layer.read_text())["techniques"]}
    assert {"T1059", "T1053.003", "T1555"} <= cells
    r = run_process("report", BASE, OWN, "--summary-only", "--out", str(tmp_path / "r"), "--name", "fixture")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["name"] == "fixture"
    r = run_process("fleet", str(tmp_path / "r"), "--out", str(tmp_path / "fleet"))
    assert r.returncode == 0 and (tmp_path / "fleet" / "fleet.json").exists(), r.stderr


def test_a_large_output_survives_a_pipe_and_bad_input_is_one_line(tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text("".join(f"- rule: R{i}\n  desc: d\n  condition: evt.type = open and fd.name = /x{i}\n"
                            f"  output: o\n  priority: INFO\n  tags: [mitre_nope, T9999]\n" for i in range(2000)))
    r = run_process("check", str(many), "--format", "json", "--no-suggest")
    assert r.returncode == 1 and len(json.loads(r.stdout)) >= 4000  # every byte flushed before the exit
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: [unclosed\n")
    for path, needle in ((bad, "LOAD_ERR_YAML_PARSE"), (tmp_path / "missing.yaml", "missing.yaml")):
        r = run_process("check", str(path))
        assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr and str(path) in r.stderr
