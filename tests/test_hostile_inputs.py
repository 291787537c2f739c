"""Hostile and faulty input beyond rules and ATT&CK bundles: configurations, request values, layer
renderings, the fixer's patch, tag checks real rule packs tripped, and huge rule sets for suggest.
Alerts: ``test_hostile_alerts.py``; summaries, history and the fleet page: ``test_fleet.py``."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.config import CheckConfig
from falco_coverage.errors import AttackFormatError, RequestError
from falco_coverage.request import Request

from .cli import run_cli
from .conftest import MINI_21, shared_path
from .test_hostile import limited, one_line_error

RULE = ("- rule: {name}\n  desc: {desc}\n  condition: evt.type = {evt}\n  output: o\n  priority: WARNING\n"
        "  tags: {tags}\n")
OWN = Path(__file__).parent / "fixtures" / "rules" / "base.yaml"


@pytest.fixture(scope="module")
def v19() -> object:
    return load_attack(version="19.1")


# --- configuration files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, text, needle", [
    ("pyproject.toml", "tool = 3\n", "[tool] must be a table"),
    ("pyproject.toml", "[tool]\nfalco-coverage = 3\n", "[tool.falco-coverage] must be a table"),
    ("c.toml", "[tool.falco-coverage]\nsource_platforms = { x = [\"linux\"] }\n", "did you mean 'Linux'"),
    ("c.yaml", "1: [a]\n", "key 1 must be text"),
    ("c.yaml", "exclude:\n  ? [a, b]\n  : [x]\n", "key ['a', 'b'] must be text"),
    ("c.yaml", "exclude:\n  1: [x]\n", "key 1 in exclude must be text"),
    ("c.yaml", "[" * 10000 + "]" * 10000 + "\n", "nests deeper than 512 levels"),
    ("c.yaml", "source_platforms:\n  my_plugin: [Amiga]\n", "unknown ATT&CK platform(s) 'Amiga'"),
    ("c.yaml", "\xff\xfe", "not UTF-8"),
    ("c.yaml", "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10) if i else 'x'}]\n" for i in range(10)),
     "expands past 100,000 YAML nodes"),
    ("c.yaml", "exclude:\n  '*': &a [*a]\n", "nests deeper than 64 levels"),
    ("c.toml", "[tool.falco-coverage]\nexclude." + ".".join(["a"] * 3000) + " = 1\n", "nests deeper than 64 levels"),
    ("c.yaml", "tag_aliases:\n  x: \"a\x00b\"\n", "invalid YAML"),
])
def test_bad_configuration_is_one_line(tmp_path: Path, name: str, text: str, needle: str) -> None:
    cfg = tmp_path / name
    cfg.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    r = run_cli("check", str(OWN), "--config", str(cfg))
    assert r.returncode == 2 and needle in r.stderr and name in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_usage_mistakes_are_one_line() -> None:
    for args in (["nope"], ["alerts", str(OWN), "--alerts"], ["check"], ["check", str(OWN), "--format", "xml"]):
        r = run_cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.stderr.startswith("falco-coverage: error: ") and "--help" in r.stderr


def test_configuration_that_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    for path in (tmp_path / "fifo.yaml", Path("/dev/zero")):
        r = run_cli("check", str(OWN), "--config", str(path))
        assert r.returncode == 2 and "not a regular file" in r.stderr and str(path) in r.stderr
    big = tmp_path / "big.yaml"
    big.write_text("# x\n" * 400_000)
    r = run_cli("check", str(OWN), "--config", str(big))
    assert r.returncode == 2 and "files over 1 MiB are refused" in r.stderr


def test_known_platforms_are_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("source_platforms:\n  my_plugin: [Linux, Office Suite, Identity Provider]\n")
    assert run_cli("check", str(OWN), "--config", str(cfg)).returncode in (0, 1)


# --- request values -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [("attack_version", ""), ("attack_version", "v19"), ("attack_version", "../x"),
                                        ("compare_attack_version", "../x"), ("compare_attack_version", "19.1; rm")])
def test_attack_versions_are_validated_before_anything_runs(key: str, value: str) -> None:
    with pytest.raises(RequestError, match=key):
        Request.from_dict({key: value})


def test_empty_attack_version_never_downloads(tmp_path: Path) -> None:
    one_line_error(limited("check", str(OWN), "--attack-version", ""), "attack_version '' is not an ATT&CK release")
    r = limited("report", str(OWN), "--compare-attack-version", "../x", "--out", str(tmp_path / "o"))
    one_line_error(r, "compare_attack_version '../x'")
    assert not (tmp_path / "o").exists()


# --- layer renderings -----------------------------------------------------------------------------------
def test_layer_svg_and_excel_from_the_built_in_release(tmp_path: Path) -> None:
    pytest.importorskip("mitreattack")
    r = run_cli("layer", str(OWN), "-o", str(tmp_path / "l.json"), "--svg", str(tmp_path / "l.svg"),
                "--xlsx", str(tmp_path / "l.xlsx"))
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "l.svg").read_text()
    assert "<svg" in svg[:200] and "T1059: " in svg and "Falco rules" in svg and (tmp_path / "l.xlsx").stat().st_size > 1000


def test_layer_svg_with_no_platform_in_scope(tmp_path: Path) -> None:
    pytest.importorskip("mitreattack")
    rules = tmp_path / "nginx.yaml"
    rules.write_text("- rule: Web probe\n  desc: x\n  condition: evt.num > 0\n  output: x\n  priority: WARNING\n"
                     "  source: nginx\n  tags: [T1190]\n")
    r = run_cli("layer", str(rules), "-o", str(tmp_path / "l.json"), "--svg", str(tmp_path / "l.svg"))
    assert r.returncode in (0, 1), r.stderr
    assert "filters" not in json.loads((tmp_path / "l.json").read_text())
    assert "<svg" in (tmp_path / "l.svg").read_text()[:200]


@pytest.mark.slow
def test_matrix_bundle_draws_what_the_full_bundle_draws(tmp_path: Path) -> None:
    pytest.importorskip("mitreattack")
    from falco_coverage.analysis.coverage import coverage
    from falco_coverage.present.layers import export, to_navigator

    attack = load_attack(shared_path("attack", "enterprise-attack-19.1.json"))
    layer = to_navigator(coverage(load_rules(OWN), attack), "x", None)
    export(layer, attack, svg=tmp_path / "small.svg")
    from mitreattack.navlayers import Layer, SVGConfig, ToSvg

    ToSvg(domain="enterprise", source="local", resource=str(attack.source_path), config=SVGConfig()).to_svg(
        layerInit=Layer(init_data=layer), filepath=str(tmp_path / "full.svg"))
    assert (tmp_path / "small.svg").read_text() == (tmp_path / "full.svg").read_text()


# --- the fixer's patch ----------------------------------------------------------------------------------
def test_fix_diff_of_a_last_line_without_newline_applies(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    text = RULE.format(name="R", desc="d", evt="execve", tags="[mitre_execution, attack.t1059]").rstrip("\n")
    rules.write_text(text)
    r = run_cli("fix", str(rules), "--attack", str(MINI_21))
    assert "\\ No newline at end of file" in r.stdout, r.stdout
    patch = tmp_path / "p.diff"
    patch.write_text(r.stdout)
    subprocess.run(["git", "apply", "--check", str(patch)], cwd="/", check=True, capture_output=True)
    done = subprocess.run(["patch", "-p1", "-d", "/", "-i", str(patch)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert rules.read_text() == text.replace("attack.t1059", "T1059")


def test_fix_writes_the_canonical_form_despite_another_finding(tmp_path: Path, v19: object) -> None:
    """The rule keeps its tactic mismatch; the malformed tag is still written canonically."""
    rules = tmp_path / "r.yaml"
    rules.write_text(RULE.format(name="Web", desc="d", evt="execve", tags="[mitre_execution, attack.t1190]"))
    r = run_cli("fix", str(rules), "--write")
    assert r.returncode in (0, 1), r.stderr
    assert "tags: [mitre_execution, T1190]" in rules.read_text()


# --- tag checks real rule packs tripped -----------------------------------------------------------------
def test_bare_retired_tactic_is_flagged_and_replaced(tmp_path: Path, v19: object) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(RULE.format(name="Evade", desc="d", evt="unlink", tags="[defense_evasion, T1685.006]"))
    f = check(load_rules(rules), v19, config=CheckConfig())  # type: ignore[arg-type]
    assert list(f.loc[f["tag"] == "defense_evasion", "code"]) == ["retired-tactic"]
    assert run_cli("fix", str(rules), "--write").returncode in (0, 1)
    assert "tags: [mitre_defense_impairment, T1685.006]" in rules.read_text()


def test_a_windows_technique_name_is_not_suggested_for_a_linux_or_plugin_rule(tmp_path: Path, v19: object) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        RULE.format(name="Server side template injection", desc="template injection by a web process",
                    evt="execve", tags="[mitre_initial_access, T1190]")
        + RULE.format(name="Office template injection", desc="Template Injection via a macro", evt="execve",
                      tags="[mitre_initial_access, T1190]").replace("priority: WARNING\n",
                                                                      "priority: WARNING\n  source: coding_agent\n"))
    f = check(load_rules(rules), v19, config=CheckConfig())  # type: ignore[arg-type]
    mentions = f[f["code"] == "untagged-technique-mention"]
    # syscall observes Linux and Containers: T1221 (Windows) is not mentioned; coding_agent observes Windows
    assert list(mentions["rule"]) == ["Office template injection"] and list(mentions["technique_id"]) == ["T1221"]


def test_rules_with_base_errors_only_exit_like_check(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("- rule: Broken\n  desc: d\n  condition: no_such_macro\n  output: o\n  priority: INFO\n")
    own = tmp_path / "own.yaml"
    own.write_text(RULE.format(name="Fine", desc="d", evt="open", tags="[mitre_execution, T1059]"))
    assert run_cli("rules", str(own), "--base", str(base)).returncode == 0
    assert run_cli("check", str(own), "--base", str(base), "--attack", str(MINI_21)).returncode == 0
    assert run_cli("rules", str(base)).returncode == 1


@pytest.mark.parametrize("mutation", ["list phase", "null source"])
def test_stix_identity_properties_of_the_wrong_type(tmp_path: Path, mutation: str) -> None:
    doc = json.loads(MINI_21.read_text())
    bad = copy.deepcopy(doc)
    pattern = next(o for o in bad["objects"] if o["type"] == "attack-pattern")
    if mutation == "list phase":
        pattern["kill_chain_phases"][0]["phase_name"] = ["execution", "persistence"]
    else:
        pattern["external_references"][0]["source_name"] = None
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(AttackFormatError, match=pattern["id"]):
        load_attack(path, cache=False)
    one_line_error(limited("check", str(OWN), "--attack", str(path), memory_mb=4096), "bundle.json", pattern["id"])


def test_every_unsupported_yaml_tag_of_an_item_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- rule: C\n  desc: !!binary aGVsbG8=\n  condition: evt.type = open\n  output: !!set {a}\n"
                 "  priority: INFO\n")
    message = load_rules(p).errors["message"][0]
    assert "binary" in message and "'tag:yaml.org,2002:set' at line 4" in message


# --- suggest on a huge rule set --------------------------------------------------------------------------
@pytest.mark.slow
def test_suggest_on_ten_thousand_tagged_rules_stays_within_memory(tmp_path: Path) -> None:
    words = "shell curl passwd shadow ssh docker mount kernel module socket token secret".split()
    techs = ["T1059", "T1003", "T1552", "T1611", "T1105", "T1071", "T1548", "T1082"]
    rules = tmp_path / "many.yaml"
    rules.write_text("".join(
        RULE.format(name=f"Rule {i} {words[i % 12]} {words[(i * 7) % 12]}", desc=f"{words[(i * 5) % 12]} use",
                    evt="execve", tags=f"[mitre_execution, {techs[i % 8]}]") for i in range(10_000))
        + RULE.format(name="Untagged shadow read", desc="reads shadow", evt="open", tags="[]"))
    r = limited("suggest", str(rules), "--format", "json", memory_mb=3072, timeout=240)  # address space: pyarrow reserves much
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)
    assert any(row["rule"] == "Untagged shadow read" for row in rows)


# --- every page escapes; every reader of a user's file has a budget ----------------------------------------
EVIL = '"><script>alert(1)</script><meta http-equiv="refresh" content="0;url=https://evil.example"><img src=x onerror=alert(1)>'
EVIL_URLS = ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,<script>x</script>",
             "//evil.example/x", "\\\\evil.example", "vbscript:x"]


def _landing() -> str:
    from falco_coverage.present.landing import Headline, Landing, Link, Trend, landing_page

    gaps = [(EVIL, EVIL, url, 3) for url in EVIL_URLS]
    trend = Trend([(EVIL, 0.5, 1, 2), (EVIL, 0.6, 1, 2)], [(EVIL, [EVIL])], [(EVIL, [EVIL])], {EVIL: EVIL})
    return landing_page(Landing(Headline(1, 2, 0.5, 3, 0, 0, 0, EVIL, gaps, 1),
                                [Link(EVIL, url, EVIL, EVIL) for url in EVIL_URLS], EVIL, EVIL, EVIL, [EVIL],
                                [EVIL], EVIL_URLS[0], EVIL_URLS[1], True, 1, trend))


def _fleet() -> str:
    from falco_coverage.present.fleet_page import fleet_page

    clusters = [{"name": EVIL, "generated": EVIL, "attack_version": EVIL, "coverage": 0.5, "rules": 1,
                 "fingerprint": EVIL, "load_errors": EVIL, "errors": EVIL, "warnings": EVIL, "report": url,
                 "tactics": {EVIL: [1, 2]}} for url in EVIL_URLS]
    fleet = {"clusters": clusters, "tactics": [{"tactic": EVIL, "name": EVIL}], "attack_versions": [EVIL, "x"],
             "techniques": {"everywhere": [EVIL], "somewhere": {EVIL: [EVIL]}, "nowhere": [EVIL]},
             "technique_names": {EVIL: EVIL},
             "rules_differ": [{"rule": EVIL, "clusters": [EVIL], "missing_in": [EVIL], "variants": 2}]}
    return fleet_page(fleet, generated=EVIL, version=EVIL)


def _table() -> str:
    import pandas as pd

    from falco_coverage.present.notebook import format_frame

    df = pd.DataFrame({"rule": [EVIL], "technique_id": ["T1059"], "url": [EVIL_URLS[0]], "file": [EVIL]})
    return "".join(str(v) for v in format_frame(df).iloc[0])


def _snippets() -> str:
    from falco_coverage.display import facts_html
    from falco_coverage.present.landing import Trend, trend_html
    from falco_coverage.present.notebook import error_html

    return (facts_html(EVIL, [(EVIL, EVIL)]) + error_html(RuntimeError(EVIL))
            + trend_html(Trend([(EVIL, 0.1, 1, 1)], [(EVIL, [EVIL])], [], {EVIL: EVIL})))


#: every function that writes HTML from data, with a render of it fed hostile text
PAGES = {"landing_page": _landing, "trend_html": _snippets, "fleet_page": _fleet, "format_frame": _table,
         "table": _table, "facts_html": _snippets, "error_html": _snippets, "coverage_html": _snippets,
         "ruleset_html": _snippets, "attack_html": _snippets}


@pytest.mark.parametrize("render", sorted(set(PAGES.values()), key=lambda f: f.__name__))
def test_pages_escape_hostile_text_and_never_link_elsewhere(render: object) -> None:
    import re

    page = render()  # type: ignore[operator]
    assert "<script>alert" not in page and "<meta http-equiv=\"refresh\" content=\"0;url=https://evil" not in page
    assert "<img src=x" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    for target in re.findall(r'href="([^"]*)"', page):  # web links, or relative paths with no scheme
        first = target.split("/", 1)[0]
        assert target.startswith(("https://", "http://")) or (":" not in first and not target.startswith("//")
                                                              and "\\" not in target), target


def test_every_html_writer_has_a_hostile_render() -> None:
    """A new page or HTML helper cannot land without a hostile render in :data:`PAGES`."""
    import ast

    root = Path(__file__).parent.parent / "falco_coverage"
    writers = set()
    for path in [*(root / "present").glob("*.py"), root / "display.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and (
                    node.name.endswith(("_page", "_html")) or node.name in ("table", "format_frame")):
                writers.add(node.name)
    assert writers == set(PAGES), f"add a hostile render for {sorted(writers - set(PAGES))}"


#: modules that open files without :func:`falco_coverage.budgets.read_regular`, and why that is safe
UNBUDGETED_READERS = {
    "alerts/read.py": "alerts are streamed with their own budgets (line length, inflation; test_hostile_alerts)",
    "analysis/tags/lint.py": "re-reads a rules file the loader already read under its budget",
    "analysis/tags/fix.py": "re-reads a rules file the loader already read under its budget",
    "attack/builtin.py": "the package's own data", "attack/sources.py": "the package's own data",
    "analysis/suggest/model.py": "the package's own data", "analysis/coverage/sensors.py": "the package's own data",
    "rules/catalogue.py": "the package's own data",
    "rules/schema.py": "the package's own data and its cache entries (checksummed)",
    "attack/cache.py": "the cache's own entries (checksummed)",
    "run/report.py": "the kernel log the report itself wrote",
}


def test_every_reader_of_a_users_file_is_budgeted() -> None:
    """A new reader of files cannot land without a budget (or a reason here and hostile tests)."""
    import ast

    root = Path(__file__).parent.parent / "falco_coverage"
    readers = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel in ("budgets.py", "fsutil.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                opened = name in ("read_bytes", "read_text") or (
                    name == "open" and not any(isinstance(a, ast.Constant) and "w" in str(a.value) for a in node.args))
                if opened:
                    readers.add(rel)
    assert readers == set(UNBUDGETED_READERS), (
        f"read these through falco_coverage.budgets.read_regular, or say why not: {sorted(readers - set(UNBUDGETED_READERS))}; "
        f"no longer readers: {sorted(set(UNBUDGETED_READERS) - readers)}")


# --- the second battery --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, key", [("attack-pattern", "name"), ("x-mitre-tactic", "name"),
                                       ("x-mitre-tactic", "x_mitre_shortname")])
def test_stix_names_that_are_not_text(tmp_path: Path, kind: str, key: str) -> None:
    doc = json.loads(MINI_21.read_text())
    obj = next(o for o in doc["objects"] if o["type"] == kind)
    obj[key] = 3.5
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AttackFormatError, match="must be text|is not text"):
        load_attack(path, cache=False)


def test_numbers_of_thousands_of_digits_in_rules_and_versions(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(f"- required_engine_version: {'9' * 5000}\n" + RULE.format(name="R", desc="d", evt="open",
                                                                               tags="[T1059]"))
    assert run_cli("lint", str(p)).returncode in (0, 1)
    r = run_cli("check", str(OWN), "--falco-version", "9" * 5000)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_a_chain_of_thousands_of_macros_is_a_finding(tmp_path: Path) -> None:
    p = tmp_path / "chain.yaml"
    p.write_text("- macro: m0\n  condition: evt.type = open\n"
                 + "".join(f"- macro: m{i}\n  condition: m{i - 1}\n" for i in range(1, 3000))
                 + RULE.format(name="chain", desc="d", evt="open and m2999", tags="[T1059]"))
    f = check(load_rules(p), load_attack(MINI_21, cache=False), config=CheckConfig())
    assert "condition-too-large" in set(f["code"].astype(str))


def test_layer_outputs_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    r = run_cli("layer", str(OWN), "-o", str(tmp_path / "d"))
    assert r.returncode == 2 and "is a directory" in r.stderr
    pytest.importorskip("mitreattack")
    r = run_cli("layer", str(OWN), "-o", str(tmp_path / "l.json"), "--xlsx", str(tmp_path / "new" / "l.xlsx"),
                "--name", "a/b [c]: d*e?")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "new" / "l.xlsx").stat().st_size > 1000


def test_suggest_where_no_technique_is_on_the_platforms(tmp_path: Path) -> None:
    doc = json.loads(MINI_21.read_text())
    for o in doc["objects"]:
        if o["type"] == "attack-pattern":
            o["x_mitre_platforms"] = ["Windows"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    r = run_cli("suggest", str(OWN), "--attack", str(path))
    assert r.returncode in (0, 1), r.stderr


def test_outputs_never_replace_a_device_or_pipe(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    r = run_cli("layer", str(OWN), "-o", str(tmp_path / "pipe.json"))
    assert r.returncode == 2 and "not a regular file" in r.stderr
    import stat

    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.json").st_mode)


def test_a_path_the_system_refuses_is_one_line() -> None:
    r = run_cli("check", str(OWN), "--also-attack", "9" * 5000)
    assert r.returncode == 2 and "File name too long" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_technique_ids_of_another_form_are_no_techniques(tmp_path: Path) -> None:
    doc = json.loads(MINI_21.read_text())
    p = next(o for o in doc["objects"] if o["type"] == "attack-pattern")
    p["external_references"][0]["external_id"] = "'><script>alert(1)</script>"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    ids = set(load_attack(path, cache=False).techniques["technique_id"])
    assert ids and not any("<" in i for i in ids)


def test_report_refuses_a_compare_release_it_cannot_load_before_any_notebook(tmp_path: Path) -> None:
    r = limited("report", str(OWN), "--compare-attack-version", "99.9", "--out", str(tmp_path / "o"), timeout=120)
    one_line_error(r, "99.9 is not available offline")
    assert not (tmp_path / "o" / "index.html").exists()


def test_an_empty_second_release_is_refused() -> None:
    r = run_cli("check", str(OWN), "--also-attack", "")
    assert r.returncode == 2 and "--also-attack needs a release" in r.stderr
