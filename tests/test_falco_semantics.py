"""What Falco's loader does that needs its field catalogue or its newest rules: one test per behaviour.

Exception comparison modifiers, transformers on the right-hand side, list names with blanks, local
YAML tags, deprecated fields, exceptions appended without values, the rules-file schema, capture
keys, errors in the file that caused them, LOAD_NO_EVTTYPE, unknown fields / event types / output
tokens / sources, ``--falco-version``, Falco's codes with finer sub-codes.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from falco_coverage import RuleSet, load_rules
from falco_coverage.analysis.tags.load_findings import load_findings
from falco_coverage.rules.catalogue import builtin, catalogue
from falco_coverage.rules.condition import ConditionError, parse
from falco_coverage.rules.nodes import ValRef, falco_text

from .conftest import REPO, shared_path


def load(tmp_path: Path, text: str, name: str = "r.yaml", **kw: object) -> RuleSet:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return load_rules(p, **kw)  # type: ignore[arg-type]


def rule(name: str = "R", condition: str = "evt.type = open", output: str = "o %proc.name", extra: str = "") -> str:
    return (f"- rule: {name}\n  desc: d\n  condition: {condition}\n  output: {json.dumps(output)}\n  priority: INFO\n"
            + textwrap.indent(textwrap.dedent(extra), "  "))


def subs(rs: RuleSet, severity: str | None = None) -> list[str]:
    d = rs.diagnostics
    if severity:
        d = d[d["severity"] == severity]
    return list(d["sub_code"])


# --- exception comparison modifiers (Falco 0.44) -----------------------------------------------
def test_exception_comps_take_oneof_anyof_allof_with_normalised_blanks(tmp_path: Path) -> None:
    rs = load(tmp_path, rule(extra="""\
        exceptions:
          - name: one
            fields: [proc.name]
            comps: ["  startswith   oneof "]
            values:
              - [[sshd, sudo]]
          - name: mixed
            fields: [proc.name, fd.name]
            comps: [contains, endswith anyof]
            values:
              - [agent, [.sh, .py]]
          - name: scalar
            fields: [proc.name]
            comps: [= oneof]
            values:
              - [nmap]
        """))
    assert subs(rs, "error") == []
    assert rs.falco_compiled("rule", "R") == (
        "(evt.type = open and not proc.name startswith oneof (sshd, sudo) and not (proc.name contains agent and "
        "fd.name endswith anyof (.sh, .py)) and not proc.name = oneof (nmap))")


@pytest.mark.parametrize("comp", ["in oneof", ">= oneof", "oneof", "frobulate oneof", "startswith someof"])
def test_exception_comps_refuse_modifiers_on_other_operators(tmp_path: Path, comp: str) -> None:
    rs = load(tmp_path, rule(extra=f"""\
        exceptions:
          - name: ex
            fields: [proc.name]
            comps: ["{comp}"]
            values:
              - [[a, b]]
        """))
    err = rs.errors
    assert err["sub_code"].tolist() == ["LOAD_ERR_VALIDATE"]
    assert "not a supported comparison operator" in err.loc[0, "message"] and rs.rules.empty


def test_conditions_take_modifiers_too() -> None:
    node = parse("proc.name != allof (a, b)")
    assert falco_text(node) == "proc.name != allof (a, b)"


# --- transformers on the right-hand side ------------------------------------------------------------
def test_rhs_transformers_parse_nest_and_print_as_falco_does() -> None:
    node = parse("proc.name = toupper(proc.pname) and tolower(toupper(proc.name)) = basename( proc.exepath )")
    assert falco_text(node) == "(proc.name = toupper(proc.pname) and tolower(toupper(proc.name)) = " \
                               "basename(proc.exepath))"
    assert parse("a.b = val(proc.name)").value == ValRef("proc.name")  # type: ignore[union-attr]
    for bad in ("proc.name = toupper(", "proc.name = toupper(proc.pname", "tolower() = x", "proc.name = ("):
        with pytest.raises(ConditionError):
            parse(bad)


def test_exception_values_that_look_like_fields_warn_and_stay_strings(tmp_path: Path) -> None:
    rs = load(tmp_path, rule(extra="""\
        exceptions:
          - name: ex
            fields: [proc.name, proc.cmdline, proc.exe]
            comps: [=, =, =]
            values:
              - [proc.pname, "toupper( proc.pname)", toupper(proc.pname)]
        """))
    warn = rs.diagnostics[rs.diagnostics["sub_code"] == "WARNING_FIELD_AS_VALUE"]
    assert sorted(warn["message"]) == [
        "'proc.pname' may be a valid field misused as a const string value",
        "'toupper( proc.pname)' may be a valid field transformer misused as a const string value"]
    assert set(warn["code"]) == {"LOAD_COMPILE_CONDITION"}
    assert rs.falco_compiled("rule", "R") == ('(evt.type = open and not (proc.name = proc.pname and proc.cmdline = '
                                              '"toupper( proc.pname)" and proc.exe = toupper(proc.pname)))')


# --- names, YAML tags --------------------------------------------------------------------------------
def test_a_list_name_with_a_blank_warns_and_is_still_substituted(tmp_path: Path) -> None:
    rs = load(tmp_path, "- list: test list\n  items: [open, openat]\n" + rule(condition="evt.type in (test list)"))
    assert subs(rs) == ["LOAD_INVALID_LIST_NAME"]
    assert rs.rule("R")["evt_types"] == ["open", "openat"] and bool(rs.lists.loc[0, "used"])


def test_a_value_starting_with_bang_loads_but_global_tags_are_refused(tmp_path: Path) -> None:
    rs = load(tmp_path, "- rule: R\n  desc: != after evt.type\n  condition: evt.type = open\n  output: o\n"
                        "  priority: INFO\n")
    assert subs(rs, "error") == [] and rs.rule("R")["desc"] == "after evt.type"
    bad = load(tmp_path, "- rule: R\n  desc: !!python/object:os.system x\n  condition: evt.type = open\n"
                         "  output: o\n  priority: INFO\n", "bad.yaml")
    assert "unsupported YAML tag" in bad.errors.loc[0, "message"] and bad.rules.empty


# --- deprecated fields -------------------------------------------------------------------------------
def test_evt_dir_is_deprecated_in_conditions_macros_and_outputs(tmp_path: Path) -> None:
    text = ("- macro: spawned\n  condition: evt.type in (execve, execveat) and evt.dir = <\n"
            + rule("ViaMacro", condition=">\n    spawned and proc.name = bash")
            + rule("InOutput", output="dir=%evt.dir %container.info"))
    rs = load(tmp_path, text)
    dep = rs.diagnostics[rs.diagnostics["code"] == "LOAD_DEPRECATED_ITEM"]
    assert dep[["item", "sub_code"]].values.tolist() == [
        ["ViaMacro", "WARNING_DEPRECATED_FIELD"], ["InOutput", "WARNING_DEPRECATED_FIELD"],
        ["InOutput", "WARNING_DEPRECATED_FIELD"]]
    assert "evt.dir" in dep["message"].iloc[0] and "%container.info" in dep["message"].iloc[2]
    older = load(tmp_path, text, "older.yaml", falco_version="0.41.0")  # evt.dir: deprecated from 0.42.0
    messages = older.diagnostics.loc[older.diagnostics["code"] == "LOAD_DEPRECATED_ITEM", "message"]
    assert [m for m in messages if "evt.dir" in m] == []


# --- exceptions appended without values, schema, capture -------------------------------------------
def test_an_exception_appended_without_values_warns_and_fails_the_schema(tmp_path: Path) -> None:
    rs = load(tmp_path, rule(extra="""\
        exceptions:
          - name: ex
            fields: [proc.cmdline]
            comps: [contains]
            values:
              - [curl]
        """) + "- rule: R\n  exceptions:\n    - name: ex\n      value: curl 1.1.1.1\n"
                 "  override:\n    exceptions: append\n")
    assert "LOAD_APPEND_NO_VALUES" in subs(rs, "warning") and subs(rs, "error") == []
    assert rs.schema_status == "failed"
    schema = rs.diagnostics[rs.diagnostics["code"] == "schema"]
    assert schema["line"].tolist() == [13] and schema["message"].iloc[0] == "schema: exceptions.0: unexpected key 'value'"


def test_valid_shapes_are_remembered_and_problems_still_reported(tmp_path: Path) -> None:
    """A warm load compiles no schema for shapes an earlier run found valid, and still reports every
    item that breaks it; a corrupt record is ignored."""
    from falco_coverage.rules import schema

    bad = "- rule: B\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  enabled: maybe\n"
    text = rule("A") + bad
    first = load(tmp_path, text)
    assert first.diagnostics.loc[first.diagnostics["code"] == "schema", "line"].tolist() == [11]
    assert schema._known_path().exists()
    schema._validator.cache_clear()
    again = load(tmp_path, rule("C") + rule("D"))  # the shape of A: known
    assert schema._validator.cache_info().misses == 0 and again.schema_status == "ok"
    warm = load(tmp_path, text)  # B's shape was never remembered: it is validated and reported again
    assert warm.diagnostics.loc[warm.diagnostics["code"] == "schema", "line"].tolist() == [11]
    schema._known_path().write_text("{not json")
    assert load(tmp_path, text).diagnostics["code"].tolist().count("schema") == 1


def test_shape_digests_do_not_depend_on_string_hashing() -> None:
    code = ("from falco_coverage.rules.schema import _digest; "
            "print(_digest(('rule', (('tags', ('[]', frozenset({'s', 'i', ('k', 's'), 'b'}))),))))")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3", "4")}
    assert len(digests) == 1


def test_capture_keys_are_columns_and_typed_by_the_schema(tmp_path: Path) -> None:
    rs = load(tmp_path, rule("A", extra="  capture: true\n  capture_duration: 15000\n") + rule("B"))
    assert rs.rules[["name", "capture", "capture_duration"]].values.tolist() == [["A", True, 15000], ["B", False, 0]]
    assert rs.schema_status == "ok"
    quoted = load(tmp_path, rule(extra='  capture: "yes"\n'), "q.yaml")
    assert quoted.schema_status == "failed" and bool(quoted.rule("R")["capture"]) is True  # Falco still loads it
    assert load(tmp_path, rule(extra="  priority2: x\n"), "k.yaml").schema_status == "failed"
    assert load(tmp_path, "- list: l\n  items: [a]\n  priority: INFO\n", "x.yaml").schema_status == "ok"


# --- appends, sources, where errors are reported ---------------------------------------------------
def test_override_with_append_true_warns_and_errs(tmp_path: Path) -> None:
    rs = load(tmp_path, rule() + "- rule: R\n  condition: and proc.name = x\n  append: true\n"
                                 "  override:\n    condition: append\n")
    assert subs(rs) == ["WARNING_APPEND", "ERROR_OVERRIDE_APPEND"]
    assert rs.errors.loc[0, "code"] == "LOAD_ERR_YAML_VALIDATE"


def test_an_append_naming_another_source_is_a_redefinition_error(tmp_path: Path) -> None:
    text = (rule(condition="ka.verb = GET", output="o", extra="  source: k8s_audit\n")
            + "- rule: R\n  condition: and 1 = 2\n  source: syscall\n  append: true\n")
    rs = load(tmp_path, text)
    assert rs.errors[["code", "sub_code"]].values.tolist() == [["LOAD_ERR_VALIDATE", "ERROR_SOURCE_MISMATCH"]]
    same = load(tmp_path, rule() + "- rule: R\n  condition: and proc.name = a\n  source:\n  append: true\n", "s.yaml")
    assert subs(same, "error") == []


def test_an_error_caused_by_a_later_file_is_reported_there(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("- macro: m\n  condition: evt.type = execve\n" + rule(condition="m"))
    broken = tmp_path / "append.yaml"
    broken.write_text("\n- macro: m\n  condition: foo\n  append: true\n"
                      "- rule: R\n  condition: and bar\n  override:\n    condition: append\n")
    rs = load_rules(base, broken)
    assert rs.errors[["file", "line", "item"]].values.tolist() == [[str(broken), 3, "m"], [str(broken), 6, "R"]]


# --- event types -------------------------------------------------------------------------------------
def test_no_evttype_warns_for_broad_rules_only(tmp_path: Path) -> None:
    rs = load(tmp_path, "- macro: never_true\n  condition: (evt.num=0)\n"
                        + rule("Broad", "proc.name = cat") + rule("Narrow", "evt.type = close")
                        + rule("Off", "proc.name = cat", extra="  warn_evttypes: false\n")
                        + rule("Never", "never_true") + rule("Contradiction", "evt.type = open and evt.type = close")
                        + rule("Anchored", "evt.type = open and not never_true"))
    d = rs.diagnostics
    assert d.loc[d["code"] == "LOAD_NO_EVTTYPE", "item"].tolist() == ["Broad"]
    assert rs.rule("Never")["evt_types"] == [] and rs.rule("Anchored")["evt_types"] == ["open"]


# --- the field catalogue -----------------------------------------------------------------------------
def test_unknown_fields_event_types_and_output_tokens_are_errors(tmp_path: Path) -> None:
    rs = load(tmp_path, rule("Field", "evt.type = open and proc.nobody = cat")
              + rule("Evt", "evt.type = some_invalid_event") + rule("Out", output="x=%not_a_real.field")
              + rule("Fine", "evt.type = open and proc.aname[2] = sh and evt.arg.fd > 0",
                     output="%proc.aname[2] %toupper(user.name) %json.value[/a] %evt.arg.flags"))
    err = rs.errors
    assert err[["code", "sub_code", "item"]].values.tolist() == [
        ["LOAD_ERR_COMPILE_CONDITION", "ERROR_UNKNOWN_FIELD", "Field"],
        ["LOAD_ERR_COMPILE_CONDITION", "ERROR_UNKNOWN_EVTTYPE", "Evt"],
        ["LOAD_ERR_COMPILE_OUTPUT", "ERROR_UNKNOWN_OUTPUT_FIELD", "Out"]]
    assert sorted(rs.rejected_rules) == ["Evt", "Field", "Out"] and bool(rs.rule("Fine")["valid"])
    assert len(rs.falco_errors) == 1  # Falco stops compiling at the first failing rule


def test_skip_if_unknown_filter_skips_the_rule_with_a_warning(tmp_path: Path) -> None:
    rs = load(tmp_path, rule("Skip", "evt.type = open and proc.nobody = 1", extra="  skip-if-unknown-filter: true\n"))
    assert subs(rs) == ["LOAD_UNKNOWN_FILTER"] and not bool(rs.rule("Skip")["valid"])
    assert bool(rs.rule("Skip")["skip_if_unknown_filter"]) and "rule skipped" in rs.diagnostics.loc[0, "message"]


def test_exception_fields_are_checked(tmp_path: Path) -> None:
    rs = load(tmp_path, rule(extra="""\
        exceptions:
          - name: ex1
            fields: [not.exist]
            values: [[x]]
        """))
    assert rs.errors[["code", "sub_code"]].values.tolist() == [["LOAD_ERR_VALIDATE", "ERROR_EXCEPTION_FIELD"]]
    assert "'not.exist' is not a supported filter field" in rs.errors.loc[0, "message"]


def test_fields_belong_to_their_source(tmp_path: Path) -> None:
    rs = load(tmp_path, rule("Audit", "ka.verb = GET", output="%ka.user.name", extra="  source: k8s_audit\n")
              + rule("Wrong", "evt.type = open and ka.verb = GET"))
    assert rs.errors["item"].tolist() == ["Wrong"]


def test_sources_not_loaded_are_skipped_and_unknown_ones_said_once(tmp_path: Path) -> None:
    text = (rule("Trail", "ct.name = StartInstances", "o %ct.id", extra="  source: aws_cloudtrail\n")
            + rule("Mine", "my.field = 1", "o", extra="  source: mysource\n")
            + rule("Mine2", "my.other = 2", "o", extra="  source: mysource\n"))
    only_syscall = load(tmp_path, text, sources=["syscall"])
    unknown = only_syscall.diagnostics[only_syscall.diagnostics["code"] == "LOAD_UNKNOWN_SOURCE"]
    assert unknown["item"].tolist() == ["Trail", "Mine", "Mine2"] and not only_syscall.rules["valid"].any()
    every = load(tmp_path, text, "all.yaml")
    assert subs(every) == ["unchecked-source"] and every.rules["valid"].all()
    assert every.diagnostics.loc[0, "severity"] == "info"


def test_falco_version_bounds_fields_transformers_and_removed_fields(tmp_path: Path) -> None:
    text = rule("New", "evt.type = execve and proc.aargs[1] = x") + rule("Tr", "evt.type = open and basename(fd.name) = a")
    now = load(tmp_path, text)
    assert subs(now, "error") == []
    old = load(tmp_path, text, "old.yaml", falco_version="0.38.0")
    assert old.errors["sub_code"].tolist() == ["ERROR_UNKNOWN_FIELD", "ERROR_UNKNOWN_TRANSFORMER"]
    assert "needs Falco 0.41.0" in old.errors.loc[0, "message"]
    gone = rule("Span", "evt.type = open and evtin.span.arg = x")
    assert load(tmp_path, gone, "g1.yaml", falco_version="0.41.0").errors.empty
    assert "removed in Falco 0.42.0" in load(tmp_path, gone, "g2.yaml").errors.loc[0, "message"]


def test_required_engine_version_is_compared_with_the_engine(tmp_path: Path) -> None:
    rs = load(tmp_path, "- required_engine_version: 9999999\n" + rule())
    assert rs.errors[["code", "sub_code"]].values.tolist() == [["LOAD_ERR_VALIDATE", "ERROR_ENGINE_VERSION"]]
    assert load(tmp_path, "- required_engine_version: 0.57.0\n" + rule(), "ok.yaml").errors.empty
    assert load(tmp_path, "- required_engine_version: 0.99.0\n" + rule(), "off.yaml", check_fields=False).errors.empty


def test_findings_carry_the_finest_code(tmp_path: Path) -> None:
    rs = load(tmp_path, rule(condition="evt.type = open and nosuchmacro"))
    assert rs.errors[["code", "sub_code"]].values.tolist() == [["LOAD_ERR_VALIDATE", "ERROR_UNDEFINED_MACRO"]]
    assert load_findings(rs)["code"].astype(str).tolist() == ["ERROR_UNDEFINED_MACRO"]


def test_the_catalogue_ships_facts_for_one_falco_release() -> None:
    cat = builtin()
    assert cat.falco_version == "0.44.1" and cat.engine_version == "0.62.0"
    assert cat.lookup("syscall", "proc.name") is not None and cat.lookup("k8s_audit", "proc.name") is None
    assert cat.lookup("k8s_audit", "evt.time") is not None  # a '*' field: every source
    assert "open" in cat.events and cat.transformers["basename"] == "0.39.0"
    assert catalogue("0.40.0").falco_version == "0.40.0" and catalogue("0.40.0").engine_version is None


def test_cli_falco_version_bad_value_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(rule())
    r = subprocess.run([sys.executable, "-m", "falco_coverage", "rules", str(p), "--falco-version", "next"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--falco-version 'next'" in r.stderr
    ok = subprocess.run([sys.executable, "-m", "falco_coverage", "check", str(p), "--falco-version", "0.40.0",
                         "--format", "json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode in (0, 1) and json.loads(ok.stdout) is not None


@pytest.mark.shared
def test_the_shipped_catalogue_is_what_the_build_script_makes(tmp_path: Path) -> None:
    source = shared_path("falco-fields", "fields.json").parent
    sys.path.insert(0, str(REPO / "data"))
    try:
        import build_falco_catalogue as build
    finally:
        sys.path.pop(0)
    shipped = json.loads(gzip.decompress((REPO / "falco_coverage/rules/builtin/falco-catalogue.json.gz").read_bytes()))
    assert build.build(source) == shipped
    assert "Converts the input field" not in json.dumps(shipped)  # facts only, no description texts
