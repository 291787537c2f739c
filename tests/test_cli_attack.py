"""The command line as a user runs it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "falco_coverage", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=120,
    )


def test_attack_info_on_fixture(mini21: Path) -> None:
    r = run("attack", "info", "--attack", str(mini21))
    assert r.returncode == 0, r.stderr
    assert "ATT&CK enterprise-attack 1.2" in r.stdout
    assert "4 tactics, 3 techniques and 2 sub-techniques active; 2 revoked, 1 deprecated" in r.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"type": "bundle", "objects": [', "not valid JSON"),
        (b'{"hello": "world"}', "not a STIX bundle"),
        (b'{"type": "bundle", "objects": []}', "holds no ATT&CK techniques"),
    ],
)
def test_attack_info_bad_input_exit_2_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    r = run("attack", "info", "--attack", str(p))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(p) in lines[0]


def test_attack_info_offline_nothing_found(tmp_path: Path) -> None:
    r = run("attack", "info", "--attack-version", "17.1",  # not built in
            env={"FALCO_COVERAGE_ATTACK_URL": (tmp_path / "none").as_uri() + "/{version}.json"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "FALCO_COVERAGE_ATTACK_DIR" in r.stderr


def test_usage_error_exit_2() -> None:
    r = run("attack", "info", "--attack", "a.json", "--attack-version", "1.0")
    assert r.returncode == 2 and "not allowed with" in r.stderr
