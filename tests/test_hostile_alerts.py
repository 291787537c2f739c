"""Alerts under hostile input: bombs, devices, junk, counter samples outside a counter's domain,
broken escapes and Loki bodies. Each gives a result (problems listed, nothing subtracted) or one
clear error, exit 2, in bounded time and memory."""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from pathlib import Path

import pytest

from falco_coverage.alerts import AlertsError, load_alerts
from falco_coverage.alerts.read import MAX_LINE_BYTES, read_bytes
from falco_coverage.alerts.rows import MAX_LISTED_PROBLEMS
from falco_coverage.analysis.observed import _fires

from .test_alerts import FALCO, LOKI, lines
from .test_hostile import limited, one_line_error

METRIC = "falcosecurity_falco_rules_matches_total"
RULES = Path(__file__).parent / "fixtures" / "rules" / "base.yaml"


def sample(rule: str, value: str, ts: str = "", host: str = "h") -> str:
    return f'{METRIC}{{rule_name="{rule}",hostname="{host}"}} {value} {ts}'.rstrip()


def fires(data: bytes) -> dict[str, int]:
    a = read_bytes(data)
    f = _fires(a.alerts)
    return dict(zip(f["rule"], f["fires"]))


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf", "1e300", "-2", "2.5", "nope"])
def test_counter_values_outside_the_domain_are_problems_not_counts(value: str) -> None:
    data = "\n".join([f"# TYPE {METRIC} counter", sample("R", "3", "1000"), sample("R", value, "2000"),
                      sample("R", "5", "3000")]).encode() + b"\n"
    a = read_bytes(data)
    assert a.n_problems == 1 and "not counted" in a.problems["reason"][0] and a.problems["line"][0] == 3
    assert fires(data) == {"R": 2}  # 3 -> 5: the bad sample neither subtracts nor adds


@pytest.mark.parametrize("ts", ["100000000000000000000", "-5", "9223372036854776"])
def test_timestamps_out_of_range_are_problems(ts: str) -> None:
    a = read_bytes((sample("R", "3", ts) + "\n" + sample("S", "4") + "\n").encode())
    assert list(a.alerts["rule"]) == ["S"] and "timestamp outside" in a.problems["reason"][0]


def test_label_escapes_are_prometheus_escapes_only() -> None:
    text = (f'{METRIC}{{rule_name="A\\\\x41\\\\N\\\\u",hostname="h"}} 1\n'
            f'{METRIC}{{rule_name="caf\u00e9 \\"q\\"\\nz\\\\",hostname="h"}} 2\n'
            f'{METRIC}{{rule_name="bad \\x \\N \\u",hostname="h"}} 3\n')
    a = read_bytes(text.encode())
    assert list(a.alerts["rule"]) == ["A\\x41\\N\\u", 'café "q"\nz\\', "bad \\x \\N \\u"] and a.n_problems == 0


def test_a_scrape_pasted_twice_counts_once() -> None:
    scrape = "\n".join([f"# TYPE {METRIC} counter", sample("R", "7"), sample("S", "3", "1000"),
                        sample("S", "9", "2000")]) + "\n"
    assert fires(scrape.encode()) == {"R": 7, "S": 6}
    assert fires((scrape * 2).encode()) == {"R": 7, "S": 6}


def test_a_byte_order_mark_does_not_cost_the_first_alert() -> None:
    a = read_bytes(b"\xef\xbb\xbf" + lines(FALCO, FALCO))
    assert len(a.alerts) == 2 and a.n_problems == 0


@pytest.mark.parametrize("values, reason", [
    ({"a": 1}, "'values' is not a list"), ("1793527200000000000", "'values' is not a list"),
    ([["99999999999999999999999", "x"]], "nanoseconds"), ([["\u0661\u0662\u0663", "x"]], "nanoseconds"),
    ([["\u00b2", "x"]], "nanoseconds"), ([[None, "x"]], "nanoseconds"), ([5], "nanoseconds"),
])
def test_loki_bodies_of_the_wrong_shape(values: object, reason: str) -> None:
    body = {"streams": [{**LOKI["streams"][0], "values": values}]}
    a = read_bytes(lines(body, FALCO))
    assert len(a.alerts) == 1 and a.n_problems == 1 and reason in a.problems["reason"][0]


def test_snapshot_counters_outside_the_domain() -> None:
    snap = {"time": "2026-11-01T11:00:00Z", "rule": "Falco internal: metrics snapshot", "source": "internal",
            "output_fields": {"falco.rules.A": -3, "falco.rules.B": 2.5, "falco.rules.C": 4}}
    a = read_bytes(lines(snap))
    assert list(a.alerts["rule"]) == ["C"] and a.n_problems == 2


def test_junk_is_counted_and_listed_within_a_budget() -> None:
    junk = b"".join(b"x%d\n" % i for i in range(MAX_LISTED_PROBLEMS + 500))
    a = read_bytes(lines(FALCO) + junk)
    assert len(a.alerts) == 1 and a.n_problems == MAX_LISTED_PROBLEMS + 500
    assert len(a.problems) == MAX_LISTED_PROBLEMS + 1 and "500 more line(s)" in a.problems["reason"].iloc[-1]
    assert a.summary().endswith("1,500 line(s) could not be read")


def test_an_overlong_line_is_skipped_not_held(tmp_path: Path) -> None:
    p = tmp_path / "long.jsonl"
    with p.open("wb") as fh:
        fh.write(lines(FALCO))
        fh.write(b"{" + b" " * (MAX_LINE_BYTES * 2) + b"\n")
        fh.write(lines(FALCO))
    a = load_alerts(p)
    assert len(a.alerts) == 2 and list(a.problems["line"]) == [2] and "longer than" in a.problems["reason"][0]


def test_devices_and_pipes(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(AlertsError, match="not a regular file"):
        load_alerts("/dev/zero")
    with pytest.raises(AlertsError, match="not a regular file"):
        load_alerts(tmp_path / "pipe")
    (tmp_path / "alerts.jsonl").write_bytes(lines(FALCO))
    (tmp_path / "zero").symlink_to("/dev/zero")
    a = load_alerts(tmp_path)  # in a directory: skipped and said, the rest read
    assert len(a.alerts) == 1 and {Path(f).name for f in a.problems["file"]} == {"pipe", "zero"}


def _bomb(path: Path, byte: bytes, gib: int) -> None:
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        fh.write(co.compress(lines(FALCO)))
        for _ in range(gib * 64):
            fh.write(co.compress(byte * (16 << 20)))
        fh.write(co.flush())


@pytest.mark.slow
@pytest.mark.parametrize("byte", [b"\0", b"\n"])
def test_gzip_bombs_stop_in_bounded_time_and_memory(tmp_path: Path, byte: bytes) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    _bomb(bomb, byte, 10)  # 10 GiB inflated
    t = time.perf_counter()
    r = limited("alerts", str(RULES), "--alerts", str(bomb), "--format", "json", memory_mb=1024, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert doc["summary"]["fires"] == 1 and doc["summary"]["unreadable_lines"] >= 1
    assert any(w in p["reason"] for p in doc["problems"] for w in ("compression bomb", "longer than", "a flood?"))
    assert time.perf_counter() - t < 60


@pytest.mark.slow
def test_dev_zero_and_a_file_of_junk(tmp_path: Path) -> None:
    one_line_error(limited("alerts", str(RULES), "--alerts", "/dev/zero", memory_mb=1024, timeout=30),
                   "/dev/zero", "not a regular file")
    junk = tmp_path / "junk.txt"
    with junk.open("wb") as fh:
        fh.write(b"ab\n" * (40_000_000 // 3))
    r = limited("alerts", str(RULES), "--alerts", str(junk), memory_mb=1024, timeout=60)
    one_line_error(r, "junk.txt:1", "neither JSON nor a Prometheus sample")


@pytest.mark.slow
def test_a_million_prometheus_series(tmp_path: Path) -> None:
    p = tmp_path / "metrics.txt"
    with p.open("w") as fh:
        for i in range(1_000_000):
            fh.write(sample(f"Rule {i % 5000}", str(i % 17 + 1), host=f"host{i // 5000}") + "\n")
    t = time.perf_counter()
    r = limited("alerts", str(RULES), "--alerts", str(p), "--format", "json", memory_mb=2048, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["summary"]["fires"] == sum(i % 17 + 1 for i in range(1_000_000))
    assert time.perf_counter() - t < 60


def test_report_refuses_a_file_that_is_not_alerts_before_any_notebook(tmp_path: Path) -> None:
    not_alerts = tmp_path / "rules.yaml"
    not_alerts.write_text("- rule: x\n  desc: y\n")
    r = limited("report", str(RULES), "--alerts", str(not_alerts), "--out", str(tmp_path / "out"), timeout=120)
    one_line_error(r, "rules.yaml:1", "holds no Falco alert")
    assert not (tmp_path / "out" / "index.html").exists()


def test_gzip_of_alerts_still_reads(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl.gz"
    p.write_bytes(gzip.compress(lines(FALCO) * 1000))
    assert len(load_alerts(p).alerts) == 1000


@pytest.mark.parametrize("data", [
    (sample("R", "3", "9" * 5000) + "\n").encode(),  # past what int() converts without a limit
    json.dumps({"streams": [{"stream": {"rule": "R"}, "values": [["9" * 5000, "x"]]}]}).encode() + b"\n",
])
def test_numbers_of_thousands_of_digits_are_problems(data: bytes) -> None:
    a = read_bytes(data + lines(FALCO))
    assert "timestamp outside" in a.problems["reason"][0] or "nanoseconds" in a.problems["reason"][0]
    assert len(a.alerts) == 1 and a.n_problems == 1


def test_more_alerts_than_the_budget_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCO_COVERAGE_MAX_ALERTS", "1000")
    p = tmp_path / "many.jsonl"
    p.write_bytes(lines(FALCO) * 70_000)
    with pytest.raises(AlertsError, match="more than 1,000 alerts"):
        load_alerts(p)


def test_a_flood_of_blank_lines_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import falco_coverage.alerts.read as read

    monkeypatch.setattr(read, "MAX_EMPTY_LINES", 1000)
    p = tmp_path / "flood.jsonl"
    p.write_bytes(lines(FALCO) + b"\n" * 5000 + lines(FALCO))
    a = load_alerts(p)
    assert len(a.alerts) == 1 and "blank lines (a flood?)" in a.problems["reason"][0]


@pytest.mark.slow
def test_dev_zero_on_standard_input_stops(tmp_path: Path) -> None:
    import subprocess
    import sys

    with open("/dev/zero", "rb") as zero:
        r = subprocess.run([sys.executable, "-m", "falco_coverage", "alerts", str(RULES), "--alerts", "-"],
                           stdin=zero, capture_output=True, text=True, timeout=60)
    one_line_error(r, "-:1", "a line longer than 64 MiB")


def test_digits_with_underscores_are_no_prometheus_number() -> None:
    a = read_bytes((sample("R", "1_000") + "\n" + sample("S", "5") + "\n").encode())
    assert list(a.alerts["rule"]) == ["S"] and "not a number" in a.problems["reason"][0]
