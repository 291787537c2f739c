"""Rules loading beyond the spec cases: file:line everywhere, bad input, directories, strict mode."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import RulesError, load_rules
from falco_coverage.codes import REGISTRY
from falco_coverage.columns import columns
from falco_coverage.findings import Location

from .conftest import shared_path
from .cli import run_cli

LINES = """\
# a comment
- required_engine_version: 0.31.0

- list: shells          # line 4
  items: [bash, sh]

- macro: spawned        # line 7
  condition: evt.type = execve and proc.name in (shells)
---
# second document
- rule: Shell           # line 11
  desc: a shell
  condition: spawned
  output: "shell %proc.name"
  priority: NOTICE
  tags: [mitre_execution, T1059.004, maturity_stable, host]

- macro: unused_one     # line 18
  condition: proc.name = x

- list: lonely          # line 21
  items: []
"""


def test_frames_have_documented_columns(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(LINES)
    rs = load_rules(p)
    assert list(rs.rules.columns) == columns("rules.rules")
    assert list(rs.macros.columns) == columns("rules.macros")
    assert list(rs.lists.columns) == columns("rules.lists")
    assert list(rs.diagnostics.columns) == columns("rules.diagnostics")
    assert list(rs.files.columns) == columns("rules.files")
    assert isinstance(rs.rules["priority"].dtype, pd.CategoricalDtype) and rs.rules["priority"].cat.ordered


def test_every_item_and_diagnostic_has_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(LINES)
    rs = load_rules(p)
    assert rs.lists.set_index("name")["line"].to_dict() == {"shells": 4, "lonely": 21}
    assert rs.macros.set_index("name")["line"].to_dict() == {"spawned": 7, "unused_one": 18}
    r = rs.rule("Shell")
    assert (r["file"], r["line"], r["changed_at"]) == (str(p), 11, [Location(str(p), 11)])
    diags = rs.diagnostics.set_index("item")
    assert diags.loc["unused_one", ["code", "line"]].tolist() == ["LOAD_UNUSED_MACRO", 18]
    assert diags.loc["lonely", ["code", "line"]].tolist() == ["LOAD_UNUSED_LIST", 21]
    assert (rs.diagnostics["file"] == str(p)).all()
    assert r["tactic_tags"] == ["mitre_execution"] and r["technique_tags"] == ["T1059.004"]
    assert r["other_tags"] == ["host"] and r["maturity"] == "stable"
    assert rs.macros.set_index("name").loc["spawned", "compiled_condition"] == "evt.type = execve and proc.name in (bash, sh)"
    assert bool(rs.lists.set_index("name").loc["shells", "used"]) is True
    assert rs.required_engine_version == "0.31.0"


def test_error_lines_point_at_the_key(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: LOUD\n"
                 "- list: l\n  items: {a: b}\n- macro: m\n  condition: evt.type = (\n")
    rs = load_rules(p)
    got = rs.errors[["code", "line", "item"]].values.tolist()
    assert got == [["LOAD_ERR_YAML_VALIDATE", 5, "R"], ["LOAD_ERR_YAML_VALIDATE", 7, "l"],
                   ["LOAD_ERR_COMPILE_CONDITION", 9, "m"]]


def test_later_file_reference_is_an_error_in_the_earlier(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("- rule: R\n  desc: d\n  condition: later_macro\n  output: o\n  priority: INFO\n")
    b = tmp_path / "b.yaml"
    b.write_text("- macro: later_macro\n  condition: evt.type = open\n")
    rs = load_rules(a, b)
    assert rs.errors[["code", "sub_code", "file", "line"]].values.tolist() == [
        ["LOAD_ERR_VALIDATE", "ERROR_UNDEFINED_MACRO", str(a), 3]]
    assert bool(rs.rule("R")["valid"]) is False  # Falco would have stopped at a.yaml


def test_directory_loads_sorted_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text("- list: l\n  items: [b]\n  override:\n    items: append\n")
    (tmp_path / "a.yaml").write_text("- list: l\n  items: [a]\n")
    (tmp_path / "c.txt").write_text("not yaml: [")
    rs = load_rules(tmp_path)
    assert rs.lists.loc[0, "items"] == ["a", "b"]
    assert list(rs.files["file"]) == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")]


def test_macro_loop_through_redefinition(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- macro: a\n  condition: evt.type = open\n- macro: b\n  condition: a\n"
                 "- macro: a\n  condition: b\n"
                 "- rule: R\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n")
    rs = load_rules(p)
    assert "reference loop in macro" in " ".join(rs.errors["message"])
    assert bool(rs.rule("R")["valid"]) is False


def test_exception_forms(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("""\
- list: trusted
  items: [cron, "my daemon"]
- rule: R
  desc: d
  condition: evt.type = execve
  output: o
  priority: INFO
  exceptions:
    - name: by_name
      fields: proc.name
      values: [trusted, sshd]
    - name: pairs
      fields: [proc.name, fd.name]
      comps: [=, pmatch]
      values:
        - [nginx, trusted]
        - [apache, [/var/www, /srv]]
    - name: none_yet
      fields: [proc.name]
- rule: R
  exceptions:
    - name: by_name
      values: [sudo]
  override:
    exceptions: append
""")
    rs = load_rules(p)
    assert rs.errors.empty
    assert rs.rule("R")["compiled_condition"] == (
        '(evt.type = execve) and not (proc.name in (cron, "my daemon", sshd, sudo))'
        ' and not ((proc.name = nginx and fd.name pmatch (cron, "my daemon"))'
        ' or (proc.name = apache and fd.name pmatch (/var/www, /srv)))'
    )


@pytest.mark.parametrize(
    ("text", "code", "line", "fragment"),
    [
        ("- rule: [unclosed\n  desc: x\n", "LOAD_ERR_YAML_PARSE", 2, "invalid YAML"),
        ("rule: not a list\n", "LOAD_ERR_YAML_VALIDATE", 1, "not yaml array"),
        ("- just a string\n", "LOAD_ERR_YAML_VALIDATE", 1, "Unexpected element type"),
        ("- list: l\n  items: notalist\n", "LOAD_ERR_YAML_VALIDATE", 2, "sequence of scalars"),
        ("- rule: R\n  desc: d\n  condition: [a]\n  output: o\n  priority: INFO\n", "LOAD_ERR_YAML_VALIDATE", 3,
         "non-empty string"),
        ("- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  tags: {a: b}\n",
         "LOAD_ERR_YAML_VALIDATE", 6, "sequence of strings"),
        ("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  enabled: maybe\n",
         "LOAD_ERR_YAML_VALIDATE", 6, "boolean"),
        ("- rule: R\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n", "LOAD_ERR_YAML_VALIDATE", 1,
         "no mapping for key 'output'"),
        ("- list: l\n  items: [a]\n  override:\n    items: prepend\n", "LOAD_ERR_YAML_VALIDATE", 3,
         "Invalid override operation"),
        ("- macro: m\n  condition: a\n  override:\n    condition: append\n    items: append\n",
         "LOAD_ERR_YAML_VALIDATE", 3, "cannot be appended"),
        ("- rule: R\n  source: x\n  override:\n    source: replace\n", "LOAD_ERR_YAML_VALIDATE", 3,
         "Key 'source' cannot be replaced"),
        ("- rule: R\n  condition: and a\n  override:\n    condition: append\n", "ERROR_NO_PREVIOUS_RULE_APPEND", 1,
         "no previous rule"),
        ("- rule: R\n  enabled: false\n  override:\n    enabled: replace\n", "ERROR_NO_PREVIOUS_RULE_REPLACE", 1,
         "no previous rule"),
        ("- macro: m\n  condition: x\n  append: true\n", "ERROR_NO_PREVIOUS_MACRO", 1, "no previous macro"),
        ("- rule: R\n  desc: d\n  append: true\n", "LOAD_ERR_VALIDATE", 1, "exceptions or condition"),
        ("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  exceptions:\n"
         "    - name: e\n      fields: [a, b]\n      values: [[x]]\n", "LOAD_ERR_VALIDATE", 6,
         "Fields and values lists must have equal length"),
        ("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  exceptions:\n"
         "    - name: e\n      fields: [a, b]\n      comps: [=]\n", "LOAD_ERR_VALIDATE", 6,
         "Fields and comps lists must have equal length"),
        ("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  exceptions:\n"
         "    - name: e\n      fields: a\n      comps: '='\n", "LOAD_ERR_VALIDATE", 6, "comps must be one of"),
        ("- rule: R\n  desc: d\n  condition: proc.name = = x\n  output: o\n  priority: INFO\n",
         "LOAD_ERR_COMPILE_CONDITION", 3, "expected a value"),
        ("- required_plugin_versions:\n  - name: json\n", "LOAD_ERR_YAML_VALIDATE", 1, "'version'"),
        ("- rule: ''\n  desc: d\n", "LOAD_ERR_YAML_VALIDATE", 1, "is empty"),
    ],
)
def test_bad_items_are_diagnostics(tmp_path: Path, text: str, code: str, line: int, fragment: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    rs = load_rules(p)
    err = rs.errors
    assert err.loc[0, "sub_code"] == code and err.loc[0, "code"] == (REGISTRY[code].parent or code)
    assert err.loc[0, "line"] == line
    assert fragment in err.loc[0, "message"]
    assert err.loc[0, "file"] == str(p)
    parent = REGISTRY[code].parent
    label = re.escape(f"{parent} ({code})" if parent else code)
    with pytest.raises(RulesError, match=rf"bad.yaml:{line}: {label}" if line else rf"bad.yaml: {label}"):
        load_rules(p, strict=True)


def test_valid_items_survive_a_bad_one(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- list: a\n  items: [x]\n- 42\n- list: b\n  items: [y]\n- unknown_kind: 1\n")
    rs = load_rules(p)
    assert list(rs.lists["name"]) == ["a", "b"]
    assert rs.diagnostics[["severity", "code"]].values.tolist()[:2] == [
        ["error", "LOAD_ERR_YAML_VALIDATE"], ["warning", "LOAD_UNKNOWN_ITEM"]]


def test_unknown_keys_and_names_warn(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- list: bad name\n  items: [x]\n  colour: red\n- list: dashes-are-fine\n  items: [x]\n")
    codes = set(load_rules(p).diagnostics["code"])
    assert {"LOAD_UNKNOWN_KEY", "LOAD_INVALID_LIST_NAME"} <= codes
    named = load_rules(p).diagnostics
    assert named.loc[named["code"] == "LOAD_INVALID_LIST_NAME", "item"].tolist() == ["bad name"]


def test_booleans_in_every_falco_spelling(tmp_path: Path) -> None:
    for word, value in [("yes", True), ("Y", True), ("ON", True), ("True", True), ("off", False), ("No", False),
                        ("FALSE", False), ("n", False)]:
        p = tmp_path / f"b{word}.yaml"
        p.write_text(f"- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
                     f"  enabled: {word}\n")
        assert bool(load_rules(p).rule("R")["enabled"]) is value, word
    p = tmp_path / "mixed.yaml"
    p.write_text("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  enabled: tRUE\n")
    assert "boolean" in load_rules(p).errors.loc[0, "message"]


def test_scalars_keep_their_yaml_text(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- list: ports\n  items: [1194, 0x1F, yes, 1.50, ~, 'quoted']\n")
    assert load_rules(p).lists.loc[0, "items"] == ["1194", "0x1F", "yes", "1.50", "", "quoted"]


# --- hostile input -------------------------------------------------------------------------------


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["- list: bomb", "  items: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    p = tmp_path / "bomb.yaml"
    p.write_text("- macro: m\n  condition: x\n  payload:\n" + "".join("    " + ln + "\n" for ln in text.splitlines()))
    t = time.perf_counter()
    rs = load_rules(p)
    assert time.perf_counter() - t < 20
    assert "alias bomb" in rs.errors.loc[0, "message"]
    assert lines  # the list form above is what an attacker would write; the payload key is equivalent


def test_python_tags_never_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.yaml"
    p.write_text(f"- list: l\n  items: !!python/object/apply:os.system ['touch {marker}']\n"
                 "- list: ok\n  items: [a]\n")
    rs = load_rules(p)
    assert not marker.exists()
    assert rs.errors.loc[0, "line"] == 2 and "unsupported YAML tag" in rs.errors.loc[0, "message"]
    assert list(rs.lists["name"]) == ["ok"]


def test_huge_file_refused_before_parsing(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    with p.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: 100 MB on paper, nothing to read
    t = time.perf_counter()
    rs = load_rules(p)
    assert time.perf_counter() - t < 2
    assert rs.errors.loc[0, "code"] == "LOAD_ERR_FILE_READ" and "100 MiB" in rs.errors.loc[0, "message"]


@pytest.mark.parametrize("data", [bytes(range(256)) * 64, b"\xff\xfe\x00garbage", b"- list: a\n  items: [\x07]\n"])
def test_binary_garbage(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "garbage.yaml"
    p.write_bytes(data)
    rs = load_rules(p)
    assert rs.errors.loc[0, "code"] == "LOAD_ERR_YAML_PARSE" and rs.errors.loc[0, "line"] >= 1


def test_deep_nesting(tmp_path: Path) -> None:
    p = tmp_path / "deep.yaml"
    p.write_text("- list: l\n  items: " + "[" * 5000 + "]" * 5000 + "\n")
    rs = load_rules(p)
    assert rs.errors.loc[0, "code"] in {"LOAD_ERR_YAML_PARSE", "LOAD_ERR_YAML_VALIDATE"}


def test_missing_file_and_no_paths(tmp_path: Path) -> None:
    rs = load_rules(tmp_path / "nope.yaml")
    assert rs.errors.loc[0, "code"] == "LOAD_ERR_FILE_READ"
    with pytest.raises(RulesError):
        load_rules()


def test_cli_rules_formats_and_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(LINES)
    r = run_cli("rules", str(good))
    assert r.returncode == 0 and "Shell" in r.stdout and f"{good}:11" in r.stdout
    assert "LOAD_UNUSED_MACRO" in r.stderr  # warnings go to stderr, exit stays 0
    r = run_cli("rules", str(good), "--format", "json")
    assert '"technique_tags": [\n   "T1059.004"' in r.stdout
    r = run_cli("rules", str(good), "--format", "csv")
    assert r.stdout.splitlines()[0].startswith("name,desc,condition")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: [\n")
    r = run_cli("rules", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    # one line naming the file and line, with Falco's code
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert f"error: {bad}:2: not a readable Falco rules file: LOAD_ERR_YAML_PARSE" in r.stderr


def test_cli_not_a_rules_file() -> None:
    p = shared_path("peer", "falco_mitre_checker_not_rules.yaml")
    r = run_cli("rules", str(p))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"error: {p}:1: not a readable Falco rules file: LOAD_ERR_YAML_VALIDATE: Rules content is not yaml array " \
           "of objects" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_tag_locations_follow_overrides(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
                 "  tags:\n    - host\n    - T1059\n")
    b = tmp_path / "b.yaml"
    b.write_text("- rule: R\n  tags: [mitre_execution, T1059]\n  override:\n    tags: append\n")
    rs = load_rules(a, b)
    r = rs.rule("R")
    assert r["tags"] == ["host", "T1059", "mitre_execution"]
    assert [str(loc) for loc in r["tag_locations"]] == [f"{a}:7", f"{a}:8", f"{b}:2"]
    c = tmp_path / "c.yaml"
    c.write_text("- rule: R\n  tags: [x]\n  override:\n    tags: replace\n")
    r = load_rules(a, b, c).rule("R")
    assert (r["tags"], r["tag_locations"]) == (["x"], [Location(str(c), 2)])
