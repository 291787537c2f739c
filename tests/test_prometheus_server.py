"""``alerts --prometheus``: rule-match counts pulled from a real Prometheus server (Debian's
``prometheus`` package), started on a loopback port with data backfilled by ``promtool tsdb
create-blocks-from openmetrics``, so no scrape is waited for. Skipped, with the reason, where the
package is absent (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import run_cli
from .test_hostile import one_line_error

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("prometheus") and shutil.which("promtool")),
                                 reason="Prometheus is not installed (apt-get install prometheus)")]

RULES = """\
- rule: Shell in container
  desc: d
  condition: evt.type = execve
  output: o
  priority: NOTICE
  tags: [T1059]
- rule: Read sensitive file untrusted
  desc: d
  condition: evt.type = open
  output: o
  priority: WARNING
  tags: [T1555]
- rule: Never fires
  desc: d
  condition: evt.type = open
  output: o
  priority: WARNING
  tags: [T1005]
"""
STEP = 60
#: the data ends an hour ago: blocks backfilled into the past, queried at END
END = (int(time.time()) // 3600 - 1) * 3600
START = END - 3600


def _series(name: str, labels: str, values: list[int]) -> list[str]:
    times = range(START, START + STEP * len(values), STEP)
    return [f"{name}{{{labels}}} {v} {t}" for v, t in zip(values, times)]


def _openmetrics() -> str:
    lines = ["# TYPE falcosecurity_falco_rules_matches counter"]
    # node-1: 0..60, one per minute; node-2: 0..30, a restart, then 0..29 (59 fires)
    lines += _series("falcosecurity_falco_rules_matches_total",
                     'rule_name="Shell in container",instance="node-1:8765",job="falco"', list(range(61)))
    lines += _series("falcosecurity_falco_rules_matches_total",
                     'rule_name="Shell in container",instance="node-2:8765",job="falco"',
                     list(range(31)) + list(range(30)))
    lines += ["# TYPE falco_events counter"]
    lines += _series("falco_events", 'rule="Read sensitive file untrusted",hostname="node-3",instance="exp:9376"',
                     [2 * i for i in range(61)])
    return "\n".join(lines) + "\n# EOF\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("prometheus")
    (d / "data.om").write_text(_openmetrics())
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(d / "data.om"), str(d / "tsdb")],
                   check=True, capture_output=True, timeout=120)
    (d / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    port = _free_port()
    proc = subprocess.Popen(["prometheus", f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=10y"],
                            stdout=subprocess.DEVNULL, stderr=(d / "prometheus.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"Prometheus did not start: {(d / 'prometheus.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    return p


def _at(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_fires_per_rule_and_instance_from_the_server(server: str, rules: Path) -> None:
    r = run_cli("alerts", str(rules), "--prometheus", server, "--window", "2h", "--until", _at(END + 60),
                "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    got = {row["rule"]: row for row in doc["rules"]}
    # Prometheus extrapolates an increase to the window's edges: a few percent above the samples' own
    shell, read = got["Shell in container"], got["Read sensitive file untrusted"]
    assert 60 + 59 <= shell["fires"] <= (60 + 59) * 1.05, shell
    assert 120 <= read["fires"] <= 120 * 1.05, read
    assert shell["hosts"] == ["node-1:8765", "node-2:8765"] and read["hosts"] == ["node-3"]
    assert got["Never fires"]["fires"] == 0 and doc["summary"]["silent"] == 1


def test_a_window_before_the_data_counts_nothing(server: str, rules: Path) -> None:
    r = run_cli("alerts", str(rules), "--prometheus", server, "--window", "1h", "--until", _at(START - 7200),
                "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["fires"] == 0


def test_server_errors_are_one_line(server: str, rules: Path) -> None:
    one_line_error(run_cli("alerts", str(rules), "--prometheus", f"{server}/nope"), "HTTP 404")
    one_line_error(run_cli("alerts", str(rules), "--prometheus", f"http://127.0.0.1:{_free_port()}"),
                   "cannot reach Prometheus")
    one_line_error(run_cli("alerts", str(rules), "--prometheus", server, "--window", "30 days"),
                   "not a Prometheus duration")
    one_line_error(run_cli("alerts", str(rules), "--prometheus", "ftp://x"), "not an http(s) URL")


def test_report_pulls_from_the_server_too(server: str, rules: Path, tmp_path: Path) -> None:
    r = run_cli("report", str(rules), "--summary-only", "--out", str(tmp_path / "o"), "--prometheus", server,
                "--window", "2h", "--until", _at(END + 60))
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert doc["techniques"]["T1059"]["fired"] >= 119 and doc["techniques"]["T1005"]["fired"] == 0
