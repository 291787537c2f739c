"""The core install: a wheel installed without extras into a fresh venv runs every command that runs
no notebook, stays small, and names the extra a feature needs (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow  # builds a wheel and installs it with its dependencies: about a minute

CORE_BUDGET_MB = 250
RULES = """\
- macro: spawned_process
  condition: (evt.type in (execve, execveat) and evt.dir = <)
- rule: Shell in container
  desc: a shell started in a container
  condition: spawned_process and container.id != host and proc.name = bash
  output: shell (user=%user.name command=%proc.cmdline)
  priority: WARNING
  tags: [container, mitre_execution, T1059.004]
- rule: Wrong tactic
  desc: cron edited
  condition: evt.type = open and fd.name startswith /etc/cron
  output: cron (file=%fd.name)
  priority: NOTICE
  tags: [mitre_exfiltration, T1053.003]
"""


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    env = _clean_env()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(REPO)],
                   check=True, capture_output=True, timeout=600, env=env)
    wheel = next((work / "dist").glob("falco_coverage-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=900, env=env)
    return venv


def _clean_env() -> dict[str, str]:
    """This environment without anything that would let the checkout's code or metadata stand in for
    the installed wheel (``PYTHONPATH``) or point ATT&CK elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FALCO_COVERAGE_ATTACK") and k != "PYTHONPATH"}


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    env["FALCO_COVERAGE_CACHE_DIR"] = str(cwd / "cache")
    return subprocess.run([str(venv / "bin" / "falco-coverage"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_the_core_install_is_small_and_has_no_notebook_stack(core_venv: Path) -> None:
    assert _size_mb(core_venv) <= CORE_BUDGET_MB
    code = "import importlib.util as u; print([m for m in ('plotly', 'jupyterlab', 'nbconvert', 'papermill', " \
           "'sklearn', 'scipy', 'mitreattack', 'itables') if u.find_spec(m)])"
    out = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True,
                         env=_clean_env())
    assert out.stdout.strip() == "[]"


def test_every_core_command_runs_without_extras(core_venv: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    check = _run(core_venv, "check", str(rules), "--format", "json", cwd=tmp_path)
    assert check.returncode == 1, check.stderr  # the wrong tactic is an error
    codes = {f["code"] for f in json.loads(check.stdout)}
    assert "tactic-mismatch" in codes
    for args in (["rules", str(rules)], ["lint", str(rules)], ["coverage", str(rules)],
                 ["layer", str(rules), "-o", str(tmp_path / "layer.json")], ["suggest", str(rules)],
                 ["fix", str(rules), "--codes", "tactic-mismatch"], ["attack", "info"],
                 ["report", str(rules), "--summary-only", "--out", str(tmp_path / "out")]):
        r = _run(core_venv, *args, cwd=tmp_path)
        assert r.returncode == 0, (args, r.stderr)
    assert json.loads((tmp_path / "layer.json").read_text())["versions"]["layer"] == "4.5"
    fleet = _run(core_venv, "fleet", str(tmp_path / "out"), "--out", str(tmp_path / "fleet"), cwd=tmp_path)
    assert fleet.returncode == 0 and (tmp_path / "fleet" / "index.html").exists(), fleet.stderr


@pytest.mark.parametrize(("args", "extra"), [
    (["report", "{rules}", "--out", "{tmp}/r"], "notebooks"),
    (["layer", "{rules}", "-o", "{tmp}/l.json", "--svg", "{tmp}/l.svg"], "layers"),
    (["alerts", "{rules}", "--alerts", "{tmp}/archive.parquet"], "archives"),
])
def test_a_missing_extra_is_named_exit_2(core_venv: Path, tmp_path: Path, args: list[str], extra: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    (tmp_path / "archive.parquet").write_bytes(b"PAR1")
    r = _run(core_venv, *(a.format(rules=rules, tmp=tmp_path) for a in args), cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'falco-coverage[{extra}]'" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "l.json").exists()
