"""The fixer: precise edits, nothing else changes, and a re-check finds none of the fixed codes."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from falco_coverage import fix, load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.config import CheckConfig
from .cli import run_cli

MINI = Path(__file__).parent / "fixtures" / "mini-attack-2.1.json"

SOURCE = """\
# Custom rules drafted with an assistant. Comments and layout must survive the fix.
- rule: Flow style
  desc: flow tags with quoting   # trailing comment
  condition: evt.type = open
  output: "x"
  priority: INFO
  tags: [host, 'T1000', "Mitre_Execution", tactic=impact, T1529]   # keep me

- rule: Block style
  desc: block tags
  condition: evt.type = open
  output: y
  priority: WARNING
  tags:
    # a comment inside the list
    - container
    - T1059.004

- rule: Wrong tactic
  desc: mismatched, exactly one unsupported tactic tag
  condition: evt.type = open
  output: z
  priority: NOTICE
  tags: [mitre_impact, T1059]

- rule: Misspelt tactic
  desc: unknown tactic with a near neighbour
  condition: evt.type = open
  output: z
  priority: NOTICE
  tags: [mitre_persistance, T1053.003]

- rule: Duplicate after fix
  desc: the canonical tag is already there
  condition: evt.type = open
  output: z
  priority: NOTICE
  tags: [mitre_execution, T1059, t1059]
"""


@pytest.fixture(scope="module")
def attack():
    return load_attack(MINI, cache=False)


def findings_for(paths: list[Path], attack):
    rs = load_rules(*paths)
    return rs, check(rs, attack, config=CheckConfig())


def test_fix_then_check_leaves_no_fixed_codes(tmp_path: Path, attack) -> None:
    p = tmp_path / "custom.yaml"
    p.write_text(SOURCE)
    rs, before = findings_for([p], attack)
    fixed = {"revoked-technique", "malformed-tag", "unknown-tactic", "missing-tactic", "tactic-mismatch"}
    assert fixed <= set(before["code"].astype(str))
    edits = fix.plan(before, rs, list(fix.FIXABLE), attack=attack)  # every fix, the ambiguous one named
    fix.apply(edits, write=True)
    rs2, after = findings_for([p], attack)
    assert not set(after["code"].astype(str)) & fixed, after[["rule", "code", "tag"]].to_string()
    tags = rs2.rules.set_index("name")["tags"]
    assert tags["Flow style"] == ["host", "T1059.004", "mitre_execution", "mitre_impact", "T1529"]
    assert tags["Block style"] == ["container", "T1059.004", "mitre_execution"]
    assert tags["Wrong tactic"] == ["mitre_execution", "T1059"]
    assert tags["Misspelt tactic"] == ["mitre_persistence", "T1053.003"]
    assert tags["Duplicate after fix"] == ["mitre_execution", "T1059"]


def test_only_tag_lists_change(tmp_path: Path, attack) -> None:
    p = tmp_path / "custom.yaml"
    p.write_text(SOURCE)
    rs, f = findings_for([p], attack)
    fix.apply(fix.plan(f, rs, list(fix.FIXABLE)), write=True)
    new = p.read_text()
    old_lines, new_lines = SOURCE.splitlines(), new.splitlines()
    # The only line added is the block-list entry; every other line is identical or a tags line.
    assert len(new_lines) == len(old_lines) + 1
    added = [ln for ln in new_lines if ln not in old_lines]
    assert "    - mitre_execution" in added
    changed_old = [ln for ln in old_lines if ln not in new_lines]
    assert all(ln.lstrip().startswith("tags:") for ln in changed_old), changed_old
    assert "  tags: [host, 'T1059.004', \"mitre_execution\", mitre_impact, T1529]   # keep me" in new_lines
    assert "    # a comment inside the list" in new_lines  # comments kept


def test_diff_without_write_changes_nothing(tmp_path: Path, attack) -> None:
    p = tmp_path / "custom.yaml"
    p.write_text(SOURCE)
    rs, f = findings_for([p], attack)
    results = fix.apply(fix.plan(f, rs, list(fix.FIXABLE)), write=False)
    assert p.read_text() == SOURCE
    diff = fix.unified_diff(results)
    assert "-  tags: [mitre_impact, T1059]" in diff and "+  tags: [mitre_execution, T1059]" in diff


def test_codes_filter(tmp_path: Path, attack) -> None:
    p = tmp_path / "custom.yaml"
    p.write_text(SOURCE)
    rs, f = findings_for([p], attack)
    edits = fix.plan(f, rs, ["revoked-technique"])
    assert {e.code for e in edits} == {"revoked-technique"} and len(edits) == 1


def test_edit_lands_in_the_override_file(tmp_path: Path, attack) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
                    "  tags: [mitre_execution]\n")
    local = tmp_path / "local.yaml"
    local.write_text("- rule: R\n  tags: [T1000]  # from the local file\n  override:\n    tags: append\n")
    base_before = base.read_bytes()
    rs, f = findings_for([base, local], attack)
    fix.apply(fix.plan(f, rs), write=True)
    assert base.read_bytes() == base_before
    assert local.read_text() == "- rule: R\n  tags: [T1059.004]  # from the local file\n  override:\n    tags: append\n"


def test_write_keeps_file_mode(tmp_path: Path, attack) -> None:
    p = tmp_path / "custom.yaml"
    p.write_text(SOURCE)
    os.chmod(p, 0o640)
    rs, f = findings_for([p], attack)
    fix.apply(fix.plan(f, rs), write=True)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".*.part"))


def test_cli_fix_and_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "custom.yaml"
    p.write_text(SOURCE)
    monkeypatch.chdir(tmp_path)  # the diff names files relative to where it is run

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "--attack", str(MINI))

    r = cli("fix", str(p))
    assert r.returncode == 0 and r.stdout.startswith("--- a/") and p.read_text() == SOURCE
    r = cli("check", str(p))
    assert r.returncode == 1
    r = cli("fix", str(p), "--write")
    assert r.returncode == 0 and "tag edit(s) written" in r.stderr
    r = cli("check", str(p), "--fail-on", "error")
    assert r.returncode == 1 and "[tactic-mismatch] Wrong tactic" in r.stdout  # ambiguous: not fixed by default
    r = cli("fix", str(p), "--write", "--codes", "tactic-mismatch")
    assert r.returncode == 0 and "1 tag edit(s) written" in r.stderr
    r = cli("check", str(p), "--fail-on", "error")
    assert r.returncode == 0, r.stdout
    r = cli("fix", str(p))
    assert r.returncode == 0 and "nothing to fix" in r.stderr


def test_atomic_write_modes(tmp_path: Path) -> None:
    from falco_coverage.fsutil import atomic_write

    new = tmp_path / "new.json"
    old_mask = os.umask(0o022)
    try:
        atomic_write(new, b"{}")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    os.chmod(new, 0o600)
    atomic_write(new, b"[]")
    assert stat.S_IMODE(new.stat().st_mode) == 0o600 and new.read_bytes() == b"[]"
