"""Technique suggestions: ATT&CK's text, the ranking on small corpora, and how check, fix and the CLI use them."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.tags import fix
from falco_coverage.analysis.tags.checks import check
from falco_coverage.analysis.suggest import suggest
from falco_coverage.analysis.suggest.model import CORPUS_FILE, Corpus, builtin_corpus
from falco_coverage.attack.text import plain
from falco_coverage.config import CheckConfig

from .conftest import MINI_21, shared_path
from .cli import run_cli

DESCRIPTIONS = {
    "T1059": "Adversaries may abuse command and script interpreters to execute commands, scripts, or binaries.",
    "T1059.004": "Adversaries may abuse Unix shell commands and scripts for execution: bash, sh and zsh "
                 "(Citation: Shells) through a [terminal](https://example.org/terminal).",
    "T1053": "Adversaries may abuse task scheduling functionality to execute malicious code at a time.",
    "T1053.003": "Adversaries may abuse the cron utility to perform task scheduling: crontab files.",
    "T1529": "Adversaries may shutdown or reboot systems to interrupt access: shutdown, reboot, halt.",
}

#: tagged rules the model learns from (seven: enough to fit the ranker)
CORPUS = """\
- rule: Shell in container
  desc: a bash or sh shell was spawned in a container
  condition: evt.type = execve and proc.name in (bash, sh)
  output: "shell in container (proc=%proc.name)"
  priority: NOTICE
  tags: [T1059.004, mitre_execution]
- rule: Shell spawned by web server
  desc: a web server spawned a bash shell
  condition: evt.type = execve and proc.pname in (nginx, httpd) and proc.name in (bash, sh)
  output: "web server shell (proc=%proc.name)"
  priority: WARNING
  tags: [T1059.004, mitre_execution]
- rule: Interactive shell
  desc: an interactive zsh or bash shell
  condition: evt.type = execve and proc.name in (bash, zsh) and proc.tty != 0
  output: "interactive shell (proc=%proc.name)"
  priority: NOTICE
  tags: [T1059.004, mitre_execution]
- rule: Crontab modified
  desc: a crontab file was written
  condition: evt.type = openat and fd.name startswith /etc/cron
  output: "crontab written (file=%fd.name)"
  priority: WARNING
  tags: [T1053.003, mitre_persistence]
- rule: Cron job written
  desc: a cron job file was created under cron.d
  condition: evt.type = openat and fd.name startswith /etc/cron.d
  output: "cron job (file=%fd.name)"
  priority: WARNING
  tags: [T1053.003, mitre_persistence]
- rule: System shutdown
  desc: the shutdown or halt command was run
  condition: evt.type = execve and proc.name in (shutdown, halt)
  output: "shutdown (proc=%proc.name)"
  priority: WARNING
  tags: [T1529, mitre_impact]
- rule: Reboot command
  desc: the reboot command was run
  condition: evt.type = execve and proc.name = reboot
  output: "reboot (proc=%proc.name)"
  priority: WARNING
  tags: [T1529, mitre_impact]
"""

QUERIES = """\
- rule: Zsh launched in a pod
  desc: a zsh shell started inside a container
  condition: evt.type = execve and proc.name = zsh
  output: "zsh (proc=%proc.name)"
  priority: NOTICE
- rule: Cron file edited
  desc: someone edited a crontab
  condition: evt.type = openat and fd.name startswith /var/spool/cron
  output: "crontab edited (file=%fd.name)"
  priority: WARNING
  tags: [host]
- rule: R
  desc: ""
  condition: evt.type = openat
  output: ""
  priority: WARNING
"""


def _bundle(path: Path) -> Path:
    """The mini bundle with descriptions and procedure examples (one from a revoked group: not kept)."""
    doc = json.loads(MINI_21.read_text())
    ids = {}
    for o in doc["objects"]:
        if o["type"] == "attack-pattern":
            tid = o["external_references"][0]["external_id"]
            ids[tid] = o["id"]
            if tid in DESCRIPTIONS:
                o["description"] = DESCRIPTIONS[tid]
    active = next(o for o in doc["objects"] if o["type"] == "intrusion-set" and not o.get("revoked"))
    revoked = {**active, "id": "intrusion-set--00000000-0000-4000-8000-00000000beef", "revoked": True}
    doc["objects"].append(revoked)
    for n, (src, text) in enumerate([(active["id"], "APT-Mini used crontab to persist (Citation: Report)."),
                                     (revoked["id"], "An old group used cron too.")]):
        doc["objects"].append({"type": "relationship", "spec_version": "2.1", "relationship_type": "uses",
                               "id": f"relationship--00000000-0000-4000-8000-0000000fa{n:03d}",
                               "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
                               "source_ref": src, "target_ref": ids["T1053.003"], "description": text})
    out = path / "enterprise-attack-2.1.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.fixture
def attack(tmp_path: Path) -> Any:
    return load_attack(_bundle(tmp_path))


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    p = tmp_path / "corpus.yaml"
    p.write_text(CORPUS)
    return Corpus.from_rules(load_rules(p).rules)


@pytest.fixture
def queries(tmp_path: Path) -> Any:
    p = tmp_path / "queries.yaml"
    p.write_text(QUERIES)
    return load_rules(p)


def test_technique_text_is_plain_and_cached(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    text = load_attack(bundle).technique_text.set_index("technique_id")
    shell = text.loc["T1059.004", "description"]
    assert "Citation" not in shell and "https://" not in shell and "terminal" in shell
    assert text.loc["T1053.003", "procedures"] == ["APT-Mini used crontab to persist ."]  # revoked group left out
    again = load_attack(bundle).technique_text  # from the cache this time
    assert again.equals(load_attack(bundle, cache=False).technique_text)
    assert plain("<code>a</code>  [b](http://x) (Citation: c)") == "a b"


def test_neighbours_and_attack_text_rank_the_right_technique(queries: Any, attack: Any, corpus: Corpus) -> None:
    found = suggest(queries, attack, corpus=corpus, builtin=False)
    first = found[found["rank"] == 1].set_index("rule")
    assert first.loc["Zsh launched in a pod", "technique_id"] == "T1059.004"
    assert first.loc["Cron file edited", "technique_id"] == "T1053.003"
    evidence = " | ".join(first.loc["Cron file edited", "evidence"])
    assert "similar rule 'Crontab modified'" in evidence and "crontab" in evidence
    assert "both test cron, fd.name" in evidence  # what the two conditions share (not evt.type: every rule has it)
    # tactics are the technique's own kill-chain phases in this release
    phases = dict(zip(attack.techniques["technique_id"], attack.techniques["tactics"]))
    assert all(list(t) == list(phases[tid]) for tid, t in zip(found["technique_id"], found["tactics"]))
    assert found.groupby("rule")["rank"].apply(list).map(lambda r: r == list(range(1, len(r) + 1))).all()
    assert (found["score"].between(0, 1)).all()


def test_a_rule_is_never_its_own_neighbour(queries: Any, attack: Any, corpus: Corpus, tmp_path: Path) -> None:
    p = tmp_path / "corpus.yaml"
    p.write_text(CORPUS)
    found = suggest(load_rules(p), attack, corpus=corpus, builtin=False, only=["Reboot command"])
    cited = " ".join(e for ev in found["evidence"] for e in ev)
    assert "'Reboot command'" not in cited and "'System shutdown'" in cited
    assert len(corpus.without({"Reboot command"})) == len(corpus) - 1


def test_rule_with_no_text_gets_no_suggestion(queries: Any, attack: Any, corpus: Corpus) -> None:
    found = suggest(queries, attack, corpus=corpus, builtin=False)
    assert "R" not in set(found["rule"]) and {"Zsh launched in a pod", "Cron file edited"} <= set(found["rule"])


def test_unknown_source_is_ranked_over_every_platform_never_confident(attack: Any, corpus: Corpus,
                                                                       tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- rule: Reboot by a plugin\n  desc: the reboot or shutdown command was run\n"
                 "  condition: myplugin.action = reboot\n  output: x\n  priority: WARNING\n  source: myplugin\n")
    found = suggest(load_rules(p), attack, corpus=corpus, builtin=False)
    assert found.iloc[0]["technique_id"] == "T1529"
    assert not found["confident"].any()


def test_one_rule_set_without_corpus_uses_attack_text_and_is_never_confident(attack: Any, tmp_path: Path) -> None:
    p = tmp_path / "one.yaml"
    p.write_text("- rule: Crontab edited\n  desc: the cron utility changed a crontab\n  condition: evt.type = openat\n"
                 "  output: x\n  priority: WARNING\n")
    found = suggest(load_rules(p), attack, builtin=False)
    assert found.iloc[0]["technique_id"] == "T1053.003"
    assert not found["confident"].any()
    assert all("similar rule" not in e for ev in found["evidence"] for e in ev)


def test_tactic_only_rule_is_ranked_within_its_tactics(attack: Any, corpus: Corpus, tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text("- rule: Shell then reboot\n  desc: a bash shell ran reboot\n  condition: proc.name = reboot\n"
                 "  output: x\n  priority: WARNING\n  tags: [mitre_impact]\n")
    found = suggest(load_rules(p), attack, corpus=corpus, builtin=False, top=5)
    assert set(found["technique_id"]) == {"T1529"}


def test_base_rules_teach_but_get_no_suggestions(attack: Any, tmp_path: Path) -> None:
    base, own = tmp_path / "base.yaml", tmp_path / "own.yaml"
    base.write_text(CORPUS)
    own.write_text(QUERIES)
    found = suggest(load_rules(own, base=[base]), attack, builtin=False)
    assert set(found["rule"]) == {"Zsh launched in a pod", "Cron file edited"}
    assert found[found["rank"] == 1].set_index("rule").loc["Zsh launched in a pod", "technique_id"] == "T1059.004"


# --- wired in: check, fix --suggest, the CLI (built-in ATT&CK and corpus) ----------------------------

DRAFT = """\
- rule: Privileged container started
  desc: Detect the start of a privileged container. Exceptions are made for known trusted images.
  condition: evt.type = container and container.privileged = true
  output: "Privileged container started (user=%user.name image=%container.image.repository)"
  priority: INFO
  tags: [container]
- rule: No tags at all
  desc: Detect the start of a privileged container
  condition: evt.type = container and container.privileged = true
  output: "Privileged container started (image=%container.image.repository)"
  priority: INFO
"""


def test_check_finding_carries_the_confident_suggestion_and_fix_writes_it(tmp_path: Path) -> None:
    p = tmp_path / "draft.yaml"
    p.write_text(DRAFT)
    rs, attack = load_rules(p), load_attack()
    found = suggest(rs, attack, top=1)
    best = found.set_index("rule").loc["Privileged container started"]
    assert best["confident"] and best["technique_id"] == "T1610"
    findings = check(rs, attack, config=CheckConfig())
    f = findings[(findings["code"] == "no-mitre-tags") & (findings["rule"] == "Privileged container started")].iloc[0]
    assert f["suggestion"] == "T1610, mitre_execution" and "T1610 (Deploy Container)" in f["message"]
    quiet = check(rs, attack, config=CheckConfig(), suggest=False)
    assert quiet["suggestion"].isna().all()

    assert fix.plan(findings, rs, attack=attack) == []  # only when asked
    edits = fix.plan(findings, rs, attack=attack, suggest=True)
    assert {(e.rule, e.new) for e in edits} == {("Privileged container started", "T1610"),
                                                ("Privileged container started", "mitre_execution")}
    fix.apply(edits, write=True)
    text = p.read_text()
    assert "tags: [container, T1610, mitre_execution]" in text
    assert text.count("T1610") == 1  # the rule without a tag list is left to its author
    again = check(load_rules(p), attack, config=CheckConfig())
    assert "Privileged container started" not in set(again.loc[again["code"] == "no-mitre-tags", "rule"])


_cli = run_cli


def test_cli_suggest_json_and_table(tmp_path: Path) -> None:
    p = tmp_path / "draft.yaml"
    p.write_text(DRAFT)
    r = _cli("suggest", str(p), "--format", "json", "--top", "2")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {"rule", "rank", "technique_id", "tactics", "score", "confident", "evidence"} <= set(rows[0])
    assert max(row["rank"] for row in rows) == 2
    assert any(row["confident"] and row["technique_id"] == "T1610" for row in rows)
    t = _cli("suggest", str(p), "--rule", "Privileged container started")
    assert t.returncode == 0 and "T1610 Deploy Container [execution]" in t.stdout and "confident" in t.stdout
    assert "No tags at all" not in t.stdout
    c = _cli("check", str(p), "--fail-on", "never")
    assert "suggested: T1610 (Deploy Container)" in c.stdout


@pytest.mark.parametrize("args, needle", [
    (["missing.yaml"], "missing.yaml"),
    (["{p}", "--top", "0"], "positive"),
    (["{p}", "--rule", "Nope"], "no rule named 'Nope'"),
    (["{bad}"], "LOAD_ERR_YAML_PARSE"),
])
def test_cli_suggest_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    p, bad = tmp_path / "draft.yaml", tmp_path / "bad.yaml"
    p.write_text(DRAFT)
    bad.write_text("- rule: x\n  desc: [unclosed\n")
    r = _cli("suggest", *[a.format(p=p, bad=bad) for a in args])
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]  # argparse prints its usage above the error
    assert needle in last and ("bad.yaml:" in last or "{bad}" not in args)


def test_builtin_corpus_ships_tagged_rules_as_tokens() -> None:
    corpus = builtin_corpus()
    assert len(corpus) >= 50 and all(corpus.techniques)
    doc = json.loads(gzip.decompress(CORPUS_FILE.read_bytes()))
    assert set(doc["rules"][0]) == {"name", "source", "text", "condition", "signature", "techniques"}


@pytest.mark.shared
def test_shipped_corpus_is_what_the_script_builds() -> None:
    main, plugins = shared_path("falco-rules", "main"), shared_path("falco-plugin-rules")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
    try:
        import build_suggest_corpus
    finally:
        sys.path.pop(0)
    assert build_suggest_corpus.encode(build_suggest_corpus.build(main, plugins)) == CORPUS_FILE.read_bytes()


def test_index_and_model_are_cached_and_a_corrupt_entry_is_rebuilt(tmp_path: Path, queries: Any,
                                                                    corpus: Corpus) -> None:
    import pandas as pd

    from falco_coverage.attack.cache import cache_dir

    bundle = _bundle(tmp_path)
    suggest(queries, load_attack(bundle, cache=False), corpus=corpus, builtin=False)
    assert not list((cache_dir() / "frames").glob("*.suggest-*.bin"))  # --no-cache writes nothing
    first = suggest(queries, load_attack(bundle), corpus=corpus, builtin=False)
    entries = sorted((cache_dir() / "frames").glob("*.suggest-*.bin"))
    assert [e.name.split(".")[2].rsplit("-", 1)[0] for e in entries] == ["suggest-index", "suggest-model"]
    assert suggest(queries, load_attack(bundle), corpus=corpus, builtin=False).equals(first)  # read back
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-20])  # truncated
    again = suggest(queries, load_attack(bundle), corpus=corpus, builtin=False)
    pd.testing.assert_frame_equal(first, again)
    assert all(e.stat().st_size > 1000 for e in entries)  # written anew


def test_check_fits_once_then_reads_the_cache_without_scikit_learn(tmp_path: Path) -> None:
    from falco_coverage.attack.cache import cache_dir

    p = tmp_path / "draft.yaml"
    p.write_text(DRAFT)
    code = ("import sys; from falco_coverage.run.cli import main; main(['check', sys.argv[1], '--fail-on', 'never']); "
            "print('HEAVY', sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    runs = []
    for _ in range(2):
        runs.append(subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True))
        if len(runs) == 1:  # the first run fits the index and the model and keeps them ...
            entries = sorted((cache_dir() / "frames").glob("*.suggest-*.bin"))
            stamps = [e.stat().st_mtime_ns for e in entries]
            assert len(entries) == 2
    assert "suggested: T1610" in runs[0].stdout and "suggested: T1610" in runs[1].stdout
    assert [e.stat().st_mtime_ns for e in entries] == stamps  # ... the next reads them, writes nothing
    assert all("HEAVY []" in r.stdout for r in runs)  # numpy alone, fitted or cached


def test_coverage_suggestions_say_what_they_would_add_without_counting_it(tmp_path: Path) -> None:
    from falco_coverage.analysis.coverage import coverage
    from falco_coverage.analysis.suggest import coverage_suggestions

    p = tmp_path / "r.yaml"  # the tagged rules are disabled: they teach, but cover nothing
    p.write_text(CORPUS.replace("  priority: ", "  enabled: false\n  priority: ") + QUERIES)
    rs, attack = load_rules(p), load_attack(_bundle(tmp_path))
    cov = coverage(rs, attack)
    before = cov.tactics.copy()
    found, adds = coverage_suggestions(cov, rs, attack, builtin=False)
    assert set(found["rule"]) == {"Zsh launched in a pod", "Cron file edited"}  # untagged rules in scope only
    assert found.set_index("rule").loc["Zsh launched in a pod", "confident"]
    assert (cov.tactics["covered"] == 0).all()
    # nothing is covered, so each confident suggestion adds its parent to each of its tactics
    expected: dict[str, set[str]] = {}
    for r in found[found["confident"]].to_dict("records"):
        for tactic in r["tactics"]:
            expected.setdefault(tactic, set()).add(r["technique_id"].split(".")[0])
    assert "T1059" in expected["execution"]
    assert dict(zip(adds["tactic"], adds["would_add"])) == {t: len(expected.get(t, ())) for t in adds["tactic"]}
    assert cov.tactics.equals(before)  # suggestions are never counted


def test_cli_suggest_with_base_lists_own_rules_and_exits_1_when_falco_would_refuse(tmp_path: Path) -> None:
    base, own = tmp_path / "base.yaml", tmp_path / "own.yaml"
    base.write_text(CORPUS)
    own.write_text(QUERIES + "- rule: Broken\n  desc: uses an undefined macro\n  condition: no_such_macro\n"
                             "  output: x\n  priority: WARNING\n")
    r = _cli("suggest", str(own), "--base", str(base), "--attack", str(_bundle(tmp_path)))
    assert r.returncode == 1 and "Falco would refuse" in r.stderr
    assert "Zsh launched in a pod" in r.stdout and "Shell in container  (" not in r.stdout  # base rules not listed
    assert "R  (" in r.stdout and "no suggestion" in r.stdout  # the rule with no words says so


def test_fix_suggest_gives_a_rule_without_tags_a_tags_key(tmp_path: Path) -> None:
    p = tmp_path / "draft.yaml"
    p.write_text(DRAFT.replace("  tags: [container]\n", "") + "# a trailing comment stays\n")
    r = _cli("fix", str(p), "--suggest", "--write")
    assert r.returncode == 0, r.stderr
    assert "2 tag edit(s) written, 1 new tags: key(s)" in r.stderr
    text = p.read_text()
    assert "  priority: INFO\n  tags: [T1610, mitre_execution]\n- rule: No tags at all" in text
    assert text.endswith("# a trailing comment stays\n")
    rs = load_rules(p)
    assert rs.rule("Privileged container started")["tags"] == ["T1610", "mitre_execution"]


def test_fix_says_what_it_skipped_and_why(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    # the misspelt tactic's nearest name is not a tactic of the rule's technique: writing it would add a finding
    p.write_text("- rule: R\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n"
                 "  tags: [mitre_executon, T1003]\n")
    r = _cli("fix", str(p))
    assert ("not replacing mitre_executon by mitre_execution (unknown-tactic): 'mitre_execution' would draw "
            "unsupported-tactic") in r.stderr, r.stderr
    assert "+  tags: [mitre_executon, T1003, mitre_credential_access]" in r.stdout
