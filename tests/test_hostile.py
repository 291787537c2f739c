"""Hostile and faulty input: nothing lost, nothing leaked, nothing crashes (exit 2 with one line, never 3).

Inputs that could run away are run in a child process under a memory limit and a timeout.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import pickle
import resource
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falco_coverage import fix, load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.attack import cache as frames_cache
from falco_coverage.attack import parse_bundle
from falco_coverage.config import CheckConfig
from falco_coverage.errors import AttackFormatError, FalcoCoverageError
from falco_coverage.rules import reader
from falco_coverage.run.cli import main

from .conftest import MINI_21, shared_path

RULE = ("- rule: {name}\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
        "  tags: {tags}\n")


def limited(*args: str, memory_mb: int = 2048, timeout: float = 60, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``falco-coverage ARGS`` in a child process with an address-space limit and a timeout."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    return subprocess.run([sys.executable, "-m", "falco_coverage", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap, cwd=cwd)


def one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("falco-coverage: error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def mini() -> Any:
    return load_attack(MINI_21, cache=False)


def fix_file(path: Path, attack: Any, codes: list[str] | None = None) -> None:
    rs = load_rules(path)
    fix.apply(fix.plan(check(rs, attack, config=CheckConfig(), include_load=False), rs, codes, attack=attack),
              write=True)


# --- fix --write never destroys the file it mends --------------------------------------------------
def test_1_byte_order_mark_is_kept_and_edits_land_exactly(tmp_path: Path, mini: Any) -> None:
    p = tmp_path / "bom.yaml"
    text = RULE.format(name="Flow", tags="[mitre_execution, t1059]") + RULE.format(
        name="Block", tags="\n    - T1059") + ""
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    fix_file(p, mini)
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    tags = load_rules(p).rules.set_index("name")["tags"].to_dict()
    assert tags == {"Flow": ["mitre_execution", "T1059"], "Block": ["T1059", "mitre_execution"]}


def test_2_tag_list_shared_by_an_anchor_is_edited_once(tmp_path: Path, mini: Any) -> None:
    p = tmp_path / "alias.yaml"
    p.write_text(RULE.format(name="A", tags="&t [mitre_execution, T1000]") + RULE.format(name="B", tags="*t")
                 + RULE.format(name="C", tags="&u [T1059]") + RULE.format(name="D", tags="*u"))
    fix_file(p, mini)
    tags = load_rules(p).rules.set_index("name")["tags"].to_dict()
    assert tags == {"A": ["mitre_execution", "T1059.004"], "B": ["mitre_execution", "T1059.004"],
                    "C": ["T1059", "mitre_execution"], "D": ["T1059", "mitre_execution"]}
    assert "&t [mitre_execution, T1059.004]" in p.read_text()


def test_2_conflicting_edits_of_a_shared_list_are_refused(tmp_path: Path, mini: Any) -> None:
    p = tmp_path / "alias.yaml"
    p.write_text(RULE.format(name="A", tags="&t [mitre_execution, T1059]") + RULE.format(name="B", tags="*t"))
    before = p.read_text()
    edits = [fix.Edit("replace", str(p), 6, "T1059", "T1059.004", "A", "x"),
             fix.Edit("remove", str(p), 6, "T1059", None, "B", "y")]
    with pytest.raises(FalcoCoverageError, match="anchor/alias"):
        fix.apply(edits, write=True)
    assert p.read_text() == before


def test_3_symlinked_rules_file_is_written_through(tmp_path: Path, mini: Any) -> None:
    (tmp_path / "co").mkdir()
    (tmp_path / "rules.d").mkdir()
    target = tmp_path / "co" / "x.yaml"
    target.write_text(RULE.format(name="R", tags="[mitre_execution, t1059]"))
    link = tmp_path / "rules.d" / "x.yaml"
    link.symlink_to(Path("..") / "co" / "x.yaml")
    fix_file(link, mini)
    assert link.is_symlink() and "[mitre_execution, T1059]" in target.read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand a file to another owner")
def test_4_owner_group_and_mode_are_kept(tmp_path: Path, mini: Any) -> None:
    p = tmp_path / "owned.yaml"
    p.write_text(RULE.format(name="R", tags="[mitre_execution, t1059]"))
    os.chown(p, 1234, 2345)
    os.chmod(p, 0o640)
    fix_file(p, mini)
    st_ = p.stat()
    assert (st_.st_uid, st_.st_gid, st_.st_mode & 0o7777) == (1234, 2345, 0o640)
    assert "T1059]" in p.read_text()


def test_5_line_endings_are_kept(tmp_path: Path, mini: Any) -> None:
    p = tmp_path / "crlf.yaml"
    text = RULE.format(name="R", tags="\n    - T1059\n    - t1059.004").replace("\n", "\r\n")
    p.write_bytes(text.encode())
    fix_file(p, mini)
    raw = p.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") and b"    - mitre_execution\r\n" in raw
    assert load_rules(p).rule("R")["tags"] == ["T1059", "T1059.004", "mitre_execution"]


def test_6_many_edits_are_applied_in_one_pass(tmp_path: Path, mini: Any) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("".join(RULE.format(name=f"R{i}", tags="[Mitre_Execution, t1059]") for i in range(3000)))
    rs = load_rules(p)
    edits = fix.plan(check(rs, mini, config=CheckConfig()), rs)
    assert len(edits) == 6000
    fix.apply(edits, write=True)
    assert set(map(tuple, load_rules(p).rules["tags"])) == {("mitre_execution", "T1059")}


def test_7_unwritable_directory_is_exit_2_and_leftovers_are_cleaned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(RULE.format(name="R", tags="[mitre_execution, t1059]"))
    dead = tmp_path / f".r.yaml.{2**22 + 12345}.abc.part"  # a pid above pid_max: its writer is gone
    dead.write_text("half")
    alive = tmp_path / f".r.yaml.{os.getpid()}.def.part"  # a writer still running: left alone
    alive.write_text("busy")
    real_replace = os.replace

    def readonly(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", readonly)
    code, _, err = cli(capsys, "fix", str(p), "--attack", str(MINI_21), "--write")
    assert code == 2 and "r.yaml: cannot write: Permission denied" in err and "Traceback" not in err
    assert not dead.exists() and alive.exists()
    monkeypatch.setattr(os, "replace", real_replace)
    assert cli(capsys, "fix", str(p), "--attack", str(MINI_21), "--write")[0] == 0
    assert "T1059]" in p.read_text()


def test_7_a_write_that_does_not_load_as_intended_is_undone(tmp_path: Path, mini: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(RULE.format(name="R", tags="[mitre_execution, t1059]") + RULE.format(name="S", tags="[x]"))
    before = p.read_bytes()
    real_edit = fix._edit

    def broken(path: Path, text: str, edits: list[fix.Edit]) -> tuple[str, Any, list[list[str] | None]]:
        new, items, expected = real_edit(path, text, edits)
        return new.replace("- rule: S", "- rule: T"), items, expected  # something else changed too

    monkeypatch.setattr(fix, "_edit", broken)
    with pytest.raises(FalcoCoverageError, match="would not load as intended"):
        fix_file(p, mini)
    assert p.read_bytes() == before


# --- bounded work ----------------------------------------------------------------------------------
def test_8_very_deep_nesting_is_refused_not_a_crash(tmp_path: Path) -> None:
    p = tmp_path / "deep.yaml"
    p.write_text("- rule: x\n  desc: " + "[" * 50_000 + "]" * 50_000 + "\n")
    one_line_error(limited("rules", str(p), timeout=30), "deep.yaml:2", "nests deeper than")
    q = tmp_path / "deep_block.yaml"
    q.write_text("- rule: x\n  tags:\n" + "- " * 20_000 + "a\n")
    one_line_error(limited("check", str(q), "--attack", str(MINI_21), timeout=30), "deep_block.yaml:3")


def test_9_macro_expansion_bomb_is_bounded_and_names_the_chain(tmp_path: Path) -> None:
    out = ["- macro: m0\n  condition: proc.name = x\n"]
    out += [f"- macro: m{i}\n  condition: m{i - 1} and m{i - 1}\n" for i in range(1, 31)]
    out.append("- rule: R\n  desc: d\n  condition: evt.type = open and m30\n  output: o\n  priority: INFO\n")
    p = tmp_path / "bomb.yaml"
    p.write_text("".join(out))
    r = limited("rules", str(p), memory_mb=1024, timeout=60)
    assert r.returncode == 1 and "condition-too-large" in r.stderr and "m30 -> m29 -> m28" in r.stderr
    rs = load_rules(p)
    assert not rs.rule("R")["valid"] and rs.rule("R")["macros_used"][:2] == ["m30", "m29"]


def test_10_devices_and_pipes_are_not_read(tmp_path: Path) -> None:
    one_line_error(limited("rules", "/dev/zero", memory_mb=512, timeout=20), "/dev/zero", "not a regular file")
    one_line_error(limited("attack", "info", "--attack", "/dev/zero", memory_mb=512, timeout=20), "/dev/zero")
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    one_line_error(limited("check", str(fifo), "--attack", str(MINI_21), timeout=20), "not a regular file")


def test_11_aliases_are_budgeted_not_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_NODES", 50)
    big = tmp_path / "big.yaml"
    big.write_text("".join(RULE.format(name=f"R{i}", tags="[a, b, c]") for i in range(200)))  # ~2,000 nodes
    rs = load_rules(big)
    assert len(rs.rules) == 200 and not rs.has_errors
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("- list: a\n  items: &a [x, x, x, x, x, x, x, x]\n"
                    "- list: b\n  items: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "- list: c\n  items: [*b, *b, *b, *b, *b, *b, *b, *b]\n")
    assert "alias bomb" in " ".join(load_rules(bomb).diagnostics["message"])


# --- internal errors that are bad input ------------------------------------------------------------
def test_bit_flipped_gzip_bundle(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(MINI_21.read_bytes()))
    data[len(data) // 2] ^= 0xFF
    p = tmp_path / "enterprise-attack-1.2.json.gz"
    p.write_bytes(bytes(data))
    one_line_error(limited("attack", "info", "--attack", str(p)), str(p))


@pytest.mark.parametrize("mutation", ["null_source_name", "list_phase_name", "list_shortname", "refs_true",
                                      "objects_of_junk"])
def test_malformed_stix_is_a_clean_error_or_a_result(tmp_path: Path, mutation: str) -> None:
    doc = json.loads(MINI_21.read_text())
    for o in doc["objects"]:
        if mutation == "null_source_name":
            for ref in o.get("external_references", []):
                ref["source_name"] = None
        elif mutation == "list_phase_name":
            for ph in o.get("kill_chain_phases", []):
                ph["phase_name"] = ["execution"]
        elif mutation == "list_shortname" and o["type"] == "x-mitre-tactic":
            o["x_mitre_shortname"] = ["impact"]
        elif mutation == "refs_true":
            o["external_references"] = True
    if mutation == "objects_of_junk":
        doc["objects"] = [1, None, "x", [], {"type": 3}] + doc["objects"]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    r = limited("attack", "info", "--attack", str(p), "--no-cache")
    assert r.returncode in (0, 2), r.stderr
    if r.returncode == 2:
        one_line_error(r, str(p))


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_bundles_parse_or_fail_cleanly(data: st.DataObject) -> None:
    doc = json.loads(MINI_21.read_text())
    objects = doc["objects"]
    for _ in range(data.draw(st.integers(1, 6))):
        obj = objects[data.draw(st.integers(0, len(objects) - 1))]
        key = data.draw(st.sampled_from(sorted(obj) + ["external_references", "kill_chain_phases", "x_mitre_platforms",
                                                         "tactic_refs", "revoked", "source_ref", "id"]))
        obj[key] = data.draw(_JSON)
    try:
        parse_bundle(json.dumps(doc).encode())
    except AttackFormatError:
        pass


_YAML_TOKENS = [*"- :[]{}&*!#'\"\n\t|>abc01", "rule", "macro", "list", "tags", "condition", "\n  ", "- rule: x\n"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_YAML_TOKENS), max_size=120).map("".join))
def test_fuzzed_yaml_loads_or_reports(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "f.yaml"
    p.write_text(text)
    rs = load_rules(p)  # never raises: problems are diagnostics
    assert all(int(ln) >= 0 for ln in rs.diagnostics["line"])


def test_download_cut_mid_stream(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from falco_coverage.attack import sources

    class Cut(io.BytesIO):
        headers: dict[str, str] = {}

        def read(self, n: int = -1) -> bytes:
            raise http.client.IncompleteRead(b"partial", 100)

        def __enter__(self) -> Cut:
            return self

        def __exit__(self, *a: object) -> None:
            return None

    monkeypatch.setattr(sources, "expected_sha256", lambda domain, version, stix="2.1": "0" * 64)
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout=0: Cut())
    code, _, err = cli(capsys, "attack", "download", "--version", "18.1")
    assert code == 2 and "IncompleteRead" in err and len(err.strip().splitlines()) == 1
    assert not list(isolated_env.rglob("*.part"))  # nothing half-written is left in the cache


def test_download_into_an_uncreatable_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from falco_coverage.attack import sources

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FALCO_COVERAGE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(sources, "expected_sha256", lambda domain, version, stix="2.1": "0" * 64)
    code, _, err = cli(capsys, "attack", "download", "--version", "18.1")
    assert code == 2 and "cannot write the cache directory" in err and "Traceback" not in err


def test_report_into_a_file_or_an_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(RULE.format(name="R", tags="[mitre_execution, T1059]"))
    afile = tmp_path / "out.html"
    afile.write_text("x")
    code, _, err = cli(capsys, "report", str(rules), "--attack", str(MINI_21), "--out", str(afile))
    assert code == 2 and "is a file" in err
    import tempfile

    def denied(**kw: object) -> str:
        raise PermissionError(13, "Permission denied", str(kw.get("dir")))

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    code, _, err = cli(capsys, "report", str(rules), "--attack", str(MINI_21), "--out", str(tmp_path / "rep"))
    assert code == 2 and "cannot write the reports here: Permission denied" in err


def test_read_only_cache_with_a_corrupt_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_attack(MINI_21)  # writes the frames entry
    entry = frames_cache._frames_path(first.sha256 or "")
    entry.write_bytes(b"garbage")
    real_unlink = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self == entry:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_attack(MINI_21)
    assert again.techniques.equals(first.techniques)
    said = [str(w.message) for w in caught if issubclass(w.category, frames_cache.CacheWarning)]
    assert len(said) == 1 and "without the cache" in said[0]


# --- silence a gate mistakes for success ---------------------------------------------------------
def test_13_directory_without_rule_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("x")
    for command in ("check", "coverage", "lint", "rules"):
        attack = ["--attack", str(MINI_21)] if command in ("check", "coverage") else []
        code, _, err = cli(capsys, command, str(tmp_path), *attack)
        assert code == 2 and "no rule files found" in err and str(tmp_path) in err, command


def test_14_whole_file_errors_name_the_line_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("- rule: x\n  desc: [unclosed\n")
    for command in ("check", "coverage", "lint", "layer"):
        extra = {"check": ["--attack", str(MINI_21)], "coverage": ["--attack", str(MINI_21)],
                 "layer": ["--attack", str(MINI_21), "-o", str(tmp_path / "l.json")], "lint": []}[command]
        code, _, err = cli(capsys, command, str(p), *extra)
        assert code == 2 and f"{p}:3: not a readable Falco rules file: LOAD_ERR_YAML_PARSE" in err, (command, err)
        assert len(err.strip().splitlines()) == 1


# --- security ------------------------------------------------------------------------------------
class _Boom:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_15_cache_files_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = load_attack(MINI_21)
    entry = frames_cache._frames_path(data.sha256 or "")
    assert entry.read_bytes()[len(frames_cache._MAGIC) + 32:].startswith(b"{")  # JSON, not a pickle
    payload = pickle.dumps(_Boom())
    entry.write_bytes(frames_cache._MAGIC + hashlib.sha256(payload).digest() + payload)  # a valid checksum
    again = load_attack(MINI_21)
    assert not (tmp_path / "PWNED").exists() and again.techniques.equals(data.techniques)


def test_16_a_bundle_dropped_into_the_cache_is_verified(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from falco_coverage.attack import sources

    bundles = isolated_env / "bundles"
    bundles.mkdir(parents=True)
    (bundles / "enterprise-attack-18.1.json").write_bytes(MINI_21.read_bytes())  # not the real 18.1
    code, _, err = cli(capsys, "attack", "info", "--attack-version", "18.1")
    assert code == 2 and "does not match the published SHA-256" in err
    good = hashlib.sha256(MINI_21.read_bytes()).hexdigest()
    monkeypatch.setattr(sources, "expected_sha256", lambda domain, version, stix="2.1": good)
    code, out, _ = cli(capsys, "attack", "info", "--attack-version", "18.1")
    prov = json.loads((bundles / "enterprise-attack-18.1.json.provenance.json").read_text())
    assert code == 0 and prov["sha256"] == good and "publishes" in prov["verified_against"]


# --- reports -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_17_overlapping_report_runs_do_not_collide(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(RULE.format(name="R", tags="[mitre_execution, T1059]"))
    args = [sys.executable, "-m", "falco_coverage", "report", str(rules), "--attack", str(MINI_21), "--out",
            str(tmp_path / "out"), "--notebooks", "mistagged"]
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in runs]
    assert all(code == 0 for code, _ in results), results
    assert (tmp_path / "out" / "mistagged_rules.html").stat().st_size > 1000
    assert not list((tmp_path / "out").glob(".run-*"))


@pytest.mark.slow
def test_18_a_failed_rerun_does_not_link_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from falco_coverage.run import report

    rules = tmp_path / "r.yaml"
    rules.write_text(RULE.format(name="R", tags="[mitre_execution, T1059]"))
    out = tmp_path / "out"
    first = report.run_report({"rules": [str(rules)], "attack": str(MINI_21)}, out_dir=out, notebooks=["coverage"],
                              progress=False)
    assert not first.failed and (out / "coverage-layer.json").exists()
    broken = tmp_path / "nb"
    broken.mkdir()
    nb = json.loads((report.notebooks_dir() / "coverage.ipynb").read_text())
    nb["cells"].insert(2, {"cell_type": "code", "id": "broken", "metadata": {}, "execution_count": None, "outputs": [],
                           "source": "raise RuntimeError('broken on purpose')"})
    (broken / "coverage.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(report, "notebooks_dir", lambda: broken)
    second = report.run_report({"rules": [str(rules)], "attack": str(MINI_21)}, out_dir=out, notebooks=["coverage"],
                               progress=False)
    assert second.failed
    index = (out / "index.html").read_text()
    assert "coverage-layer.json" not in index and not (out / "coverage-layer.json").exists()


def test_shared_bundles_still_load(tmp_path: Path) -> None:
    a = load_attack(shared_path("attack", "enterprise-attack-18.1.json"))
    assert a.version == "18.1" and len(a.tactics) == 14
