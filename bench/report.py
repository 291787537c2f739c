"""Report speed and size, in one run.

    python bench/report.py

``falco-coverage report`` on the three upstream files (ATT&CK 18.1, compared with 13.1) as a whole
process on this machine, once (it takes seconds), with each notebook's time and each HTML's size.
Targets (issue 6): < 60 s in all, every HTML < 6 MB.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import DATA, UPSTREAM


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reports"
        env = {**os.environ, "FALCO_COVERAGE_CACHE_DIR": str(Path(tmp) / "cache")}
        cmd = [sys.executable, "-m", "falco_coverage", "report", *map(str, UPSTREAM), "--out", str(out),
               "--attack", str(DATA / "attack" / "enterprise-attack-18.1.json"),
               "--compare-attack", str(DATA / "attack" / "enterprise-attack-13.1.json")]
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        total = time.perf_counter() - t
        for line in r.stderr.splitlines():
            if re.search(r"\(\d+\.\d s\)$", line):
                print(line)
        sizes = {p.name: p.stat().st_size for p in sorted(out.glob("*.html"))}
    for name, size in sizes.items():
        print(f"{name:<22}{size / 2**20:6.2f} MiB  {'ok' if size < 6 * 2**20 else 'MISS'}")
    print(f"falco-coverage report, whole process: {total:.1f} s  (target < 60 s)  {'ok' if total < 60 else 'MISS'}"
          f" on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
