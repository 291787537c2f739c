"""Fleet speed: 50 generated rule-set variants reported (summaries only), then fleet over 1,000 summaries.

    python bench/fleet.py [--variants 50] [--summaries 1000]

1. 50 variants of the upstream rules (each drops, disables and re-tags a different few rules, as
   clusters' custom rules do over upstream) reported with ``report --summary-only``, as separate
   processes two at a time (this machine's cores), the way a scheduler's fan-out runs them.
   Target: <= 5 minutes.
2. ``falco-coverage fleet`` over 1,000 summaries (the 50, copied under 1,000 names), a whole
   process. Target: <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from _bench import DATA, UPSTREAM

ATTACK = DATA / "attack" / "enterprise-attack-19.1.json"


def variant(upstream: list[dict], seed: int) -> list[dict]:
    """A cluster's own file over upstream: a few rules disabled, a few re-tagged, one rule of its own."""
    rng = random.Random(seed)
    rules = [item for item in upstream if "rule" in item and "condition" in item]
    own: list[dict] = []
    for item in rng.sample(rules, 3):
        own.append({"rule": item["rule"], "enabled": False})
    for item in rng.sample(rules, 3):
        own.append({"rule": item["rule"], "tags": ["T1611", "mitre_privilege_escalation"], "override": {"tags": "replace"}})
    own.append({"rule": f"Cluster {seed} shell", "desc": "a shell", "condition": "evt.type = execve and proc.name = bash",
                "output": "shell %proc.name", "priority": "NOTICE", "tags": [rng.choice(["T1059.004", "T1053.003"])]})
    return own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=50)
    ap.add_argument("--summaries", type=int, default=1000)
    args = ap.parse_args()
    upstream = [item for path in UPSTREAM for item in yaml.safe_load(path.read_text()) or []]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "FALCO_COVERAGE_CACHE_DIR": str(root / "cache")}
        jobs = []
        for i in range(args.variants):
            own = root / "rules" / f"cluster-{i:03d}.yaml"
            own.parent.mkdir(parents=True, exist_ok=True)
            own.write_text(yaml.safe_dump(variant(upstream, i), sort_keys=False))
            cmd = [sys.executable, "-m", "falco_coverage", "report", str(own), *sum((["--base", str(p)] for p in UPSTREAM), []),
                   "--name", f"cluster-{i:03d}", "--summary-only", "--out", str(root / "reports" / f"cluster-{i:03d}"),
                   "--attack", str(ATTACK)]
            jobs.append(cmd)
        subprocess.run(jobs[0], env=env, capture_output=True, check=True)  # the ATT&CK cache, as a nightly run has it
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            codes = list(pool.map(lambda c: subprocess.run(c, env=env, capture_output=True).returncode, jobs))
        t_reports = time.perf_counter() - start
        assert set(codes) <= {0, 1}, codes  # 1: findings in a variant's rules are fine
        made = sorted((root / "reports").rglob("summary.json"))
        print(f"{len(made)} variants reported (summaries only, {os.cpu_count()} at a time): {t_reports:.1f} s "
              f"({t_reports / len(made):.2f} s each; target: <= 300 s for 50)")

        many = root / "many"
        for k in range(args.summaries):
            doc = json.loads(made[k % len(made)].read_text())
            doc["name"] = f"cluster-{k:04d}"
            target = many / f"c{k:04d}" / "summary.json"
            target.parent.mkdir(parents=True)
            target.write_text(json.dumps(doc))
        size = sum(p.stat().st_size for p in many.rglob("summary.json"))
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "falco_coverage", "fleet", str(many), "--out", str(root / "fleet")],
                           env=env, capture_output=True, text=True, check=True)
        t_fleet = time.perf_counter() - start
        page = (root / "fleet" / "index.html").stat().st_size
        print(f"fleet over {args.summaries} summaries ({size / 1e6:.0f} MB), a whole process: {t_fleet:.2f} s "
              f"(target: <= 5 s); page {page / 1e6:.1f} MB; {r.stderr.strip().splitlines()[-1]}")
        shutil.rmtree(root / "many")


if __name__ == "__main__":
    main()
