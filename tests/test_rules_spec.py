"""The 19 cases of section 9 of falco-rules-loading.md, one test each, asserting exact values."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from falco_coverage import RuleSet, load_rules

from .conftest import shared_path

RULE = """\
- rule: {name}
  desc: {desc}
  condition: {condition}
  output: {output}
  priority: {priority}
"""


def base(name: str = "R", desc: str = "d", condition: str = "evt.type = open", output: str = "o",
         priority: str = "WARNING") -> str:
    """A full rule definition that a test's append/override items then act on."""
    return RULE.format(name=name, desc=desc, condition=condition, output=output, priority=priority)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def load(tmp_path: Path, *texts: str) -> RuleSet:
    paths = [write(tmp_path, f"f{i}.yaml", t) for i, t in enumerate(texts)]
    return load_rules(*paths)


def codes(rs: RuleSet, severity: str = "error") -> list[str]:
    d = rs.diagnostics
    return list(d[d["severity"] == severity]["sub_code"])  # the finest reason (Falco's code when there is none)


def messages(rs: RuleSet) -> list[str]:
    return list(rs.errors["message"])


def lst(rs: RuleSet, name: str) -> list[str]:
    return rs.lists.set_index("name").loc[name, "items"]


def macro(rs: RuleSet, name: str) -> str:
    return rs.macros.set_index("name").loc[name, "compiled_condition"]


USES_ALL = """
- rule: uses
  desc: d
  condition: evt.type = open and {names}
  output: o
  priority: INFO
"""


def test_case01_list_override_append(tmp_path: Path) -> None:
    rs = load(tmp_path, """
        - list: shells
          items: [ash, dash]
        - list: shells
          items: [pwsh]
          override:
            items: append
        """)
    assert lst(rs, "shells") == ["ash", "dash", "pwsh"]
    assert codes(rs) == []


def test_case02_macro_condition_append(tmp_path: Path) -> None:
    rs = load(tmp_path, """
        - macro: opens
          condition: evt.type in (open,openat)
        - macro: opens
          condition: or evt.type = openat2
          override:
            condition: append
        """)
    assert macro(rs, "opens") == "evt.type in (open,openat) or evt.type = openat2"
    assert codes(rs) == []


def test_case03_override_before_macro(tmp_path: Path) -> None:
    rs = load(tmp_path, """
        - macro: opens
          condition: or evt.type = openat2
          override:
            condition: append
        - macro: opens
          condition: evt.type in (open,openat)
        """)
    assert codes(rs) == ["ERROR_NO_PREVIOUS_MACRO"]
    assert rs.errors.loc[0, "line"] == 2 and rs.errors.loc[0, "item"] == "opens"
    assert macro(rs, "opens") == "evt.type in (open,openat)"
    fine = load(tmp_path, """
        - macro: opens
          condition: evt.type = openat2
          override:
            condition: replace
        - macro: opens
          condition: evt.type in (open,openat)
        """)
    assert codes(fine) == []
    assert macro(fine, "opens") == "evt.type in (open,openat)"


def test_case04_rule_override_appends_with_one_space(tmp_path: Path) -> None:
    rs = load(tmp_path, base(desc="first", output="out") + """
- rule: R
  desc: second
  condition: and proc.name = cat
  output: more
  override:
    desc: append
    condition: append
    output: append
""")
    r = rs.rule("R")
    assert (r["desc"], r["condition"], r["output"]) == ("first second", "evt.type = open and proc.name = cat",
                                                       "out more")
    assert r["compiled_condition"] == "(evt.type = open and proc.name = cat)"
    assert codes(rs) == []


def test_case05_unexpected_key(tmp_path: Path) -> None:
    rs = load(tmp_path, base() + """
- rule: R
  desc: new
  condition: and proc.name = cat
  priority: ERROR
  override:
    desc: replace
    condition: append
""")
    assert codes(rs) == ["LOAD_ERR_YAML_VALIDATE"]
    assert messages(rs)[0].startswith("Unexpected key 'priority'")
    assert rs.errors.loc[0, "line"] == 10  # the line of the offending key
    r = rs.rule("R")
    assert (r["desc"], r["priority"]) == ("d", "Warning")  # the item was rejected whole


def test_case06_append_override_without_the_key(tmp_path: Path) -> None:
    rs = load(tmp_path, base() + """
- rule: R
  desc: more
  override:
    condition: append
    desc: append
""")
    assert messages(rs) == [
        "An append override for 'condition' was specified but 'condition' is not defined"]


def test_case07_priority_cannot_be_appended(tmp_path: Path) -> None:
    rs = load(tmp_path, base() + """
- rule: R
  priority: ERROR
  override:
    priority: append
""")
    assert messages(rs) == ["Key 'priority' cannot be appended to, use 'replace' instead"]
    assert rs.rule("R")["priority"] == "Warning"


def test_case08_append_plus_override(tmp_path: Path) -> None:
    rs = load(tmp_path, """
        - list: l
          items: [a]
        - list: l
          items: [b]
          append: true
          override:
            items: append
        """)
    assert codes(rs) == ["ERROR_OVERRIDE_APPEND"]
    assert lst(rs, "l") == ["a"]


def test_case09_enabled_only_item(tmp_path: Path) -> None:
    rs = load(tmp_path, base(name="X") + """  enabled: false
- rule: X
  enabled: true
""")
    assert bool(rs.rule("X")["enabled"]) is True
    assert codes(rs, "warning") == ["WARNING_ENABLED"]
    assert codes(rs) == []
    missing = load(tmp_path, """
        - rule: Y
          enabled: true
        """)
    assert codes(missing) == ["ERROR_NO_PREVIOUS_RULE_ENABLE"]
    assert missing.rules.empty


@pytest.mark.parametrize("extra", ["  enabled: true\n", "  tags: [new_tag]\n"])
def test_case10_legacy_append_takes_only_condition(tmp_path: Path, extra: str) -> None:
    rs = load(tmp_path, base(name="X") + """  enabled: false
  tags: [old]
- rule: X
  condition: and proc.name = cat
  append: true
""" + extra)
    r = rs.rule("X")
    assert r["condition"] == "evt.type = open and proc.name = cat"
    assert bool(r["enabled"]) is False and r["tags"] == ["old"]
    assert codes(rs, "warning") == ["WARNING_APPEND"]


def test_case11_full_redefinition(tmp_path: Path) -> None:
    rs = load(tmp_path, base(name="A", desc="a") + "  enabled: false\n  tags: [t1]\n"
              + RULE.format(name="B", desc="b", condition="evt.type = open", output="o", priority="INFO")
              + RULE.format(name="A", desc="a2", condition="evt.type = close", output="o2", priority="ERROR"))
    assert list(rs.rules["name"]) == ["A", "B"]  # original position
    a = rs.rule("A")
    assert (a["desc"], a["condition"], a["priority"]) == ("a2", "evt.type = close", "Error")
    assert bool(a["enabled"]) is True and a["tags"] == []  # defaults apply again
    assert a["line"] == 1 and len(a["changed_at"]) == 2


def test_case12_exception_with_a_space_gets_quoted(tmp_path: Path) -> None:
    rs = load(tmp_path, base(condition="evt.type = execve") + """  exceptions:
    - name: local_curl
      fields: [proc.cmdline]
      comps: [contains]
      values:
        - [curl 127.0.0.1]
""")
    assert rs.rule("R")["compiled_condition"] == \
        '(evt.type = execve) and not ((proc.cmdline contains "curl 127.0.0.1"))'
    assert codes(rs) == []


def test_case13_exceptions_replace_needs_fields(tmp_path: Path) -> None:
    rs = load(tmp_path, base(condition="evt.type = execve") + """
- rule: R
  exceptions:
    - name: e
      values: [[a]]
  override:
    exceptions: replace
""")
    assert codes(rs) == ["LOAD_ERR_YAML_VALIDATE"]
    assert "no mapping for key 'fields'" in messages(rs)[0]
    assert rs.rule("R")["exceptions"] == []


def test_case14_redefined_with_another_source(tmp_path: Path) -> None:
    rs = load(tmp_path, base(name="K", condition="ka.verb = create") + "  source: k8s_audit\n"
              + base(name="K", desc="d2")
              + "  source: syscall\n")
    assert messages(rs) == ["Rule has been re-defined with a different source"]
    k = rs.rule("K")
    assert k["source"] == "k8s_audit" and k["desc"] == "d"


@pytest.mark.parametrize(("written", "canonical"), [("info", "Informational"), ("INFO", "Informational"),
                                                     ("Informational", "Informational"), ("critical", "Critical")])
def test_case15_priority_aliases(tmp_path: Path, written: str, canonical: str) -> None:
    rs = load(tmp_path, RULE.format(name="R", desc="d", condition="evt.type = open", output="o", priority=written))
    assert rs.rule("R")["priority"] == canonical


def test_case15_invalid_priority(tmp_path: Path) -> None:
    rs = load(tmp_path, RULE.format(name="R", desc="d", condition="evt.type = open", output="o", priority="WARN"))
    assert messages(rs) == ["Invalid priority 'WARN'"]
    assert rs.errors.loc[0, "line"] == 5 and rs.rules.empty


def test_case16_engine_version(tmp_path: Path) -> None:
    assert load(tmp_path, "- required_engine_version: 26\n").required_engine_version == "0.26.0"
    both = load(tmp_path, "- required_engine_version: 0.31.0\n- required_engine_version: 26\n")
    assert both.required_engine_version == "0.31.0"  # the highest wins
    bad = load(tmp_path, "- required_engine_version: seven\n")
    assert codes(bad) == ["LOAD_ERR_YAML_VALIDATE"] and "'seven'" in messages(bad)[0]
    assert bad.errors.loc[0, "code"] == "LOAD_ERR_YAML_VALIDATE"


def test_case17_list_substitution(tmp_path: Path) -> None:
    rs = load(tmp_path, textwrap.dedent("""
        - list: cat_binaries
          items: [cat]
        - list: empty_list
          items: []
        - list: spaced
          items: [my prog, "'quoted one'"]
        - macro: m1
          condition: proc.name=cat_binaries
        - macro: m2
          condition: proc.name in (a, empty_list)
        - macro: m3
          condition: proc.name in (empty_list, b)
        - macro: m4
          condition: proc.name in (spaced) or fd.name contains "cat_binaries"
        """) + USES_ALL.format(names="m1 and m2 and m3 and m4"))
    assert macro(rs, "m1") == "proc.name=cat"
    assert macro(rs, "m2") == "proc.name in (a)"
    assert macro(rs, "m3") == "proc.name in (b)"
    assert macro(rs, "m4") == "proc.name in (\"my prog\", 'quoted one') or fd.name contains \"cat_binaries\""
    assert codes(rs) == [] and codes(rs, "warning") == []


def test_case18_macro_visibility(tmp_path: Path) -> None:
    rs = load(tmp_path, """
        - macro: first
          condition: second and evt.type = open
        - macro: second
          condition: proc.name = cat
        """)
    assert messages(rs) == ["Undefined macro 'second' used in filter."]
    assert rs.errors.loc[0, "item"] == "first" and rs.errors.loc[0, "line"] == 3
    fine = load(tmp_path, USES_ALL.format(names="later") + """
- macro: later
  condition: proc.name = cat
""")
    assert codes(fine) == [] and bool(fine.rule("uses")["valid"])


def test_case19_upstream_later_definition_wins() -> None:
    main = shared_path("falco-rules", "main")
    rs = load_rules(main / "falco_rules.yaml", main / "falco-incubating_rules.yaml")
    lists = rs.lists.set_index("name")
    assert lists.loc["python_package_managers", "items"] == ["pip", "pip3", "conda"]
    assert lists.loc["python_package_managers", "file"].endswith("falco_rules.yaml")  # position of first definition
    assert len(lists.loc["python_package_managers", "changed_at"]) == 2
