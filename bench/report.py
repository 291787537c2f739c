"""Report speed and size, in one run.

    python bench/report.py

1. ``falco-coverage report`` on the three upstream files (ATT&CK 18.1), the default notebooks, as a
   whole process: time and bundle size. Targets: < 20 s, bundle <= 8 MB.
2. The same with the comparison against 13.1 (three notebooks): time and each page's size.
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


def _run(tmp: Path, name: str, *extra: str) -> tuple[float, dict[str, int], list[str]]:
    out = tmp / name
    env = {**os.environ, "FALCO_COVERAGE_CACHE_DIR": str(tmp / "cache")}
    cmd = [sys.executable, "-m", "falco_coverage", "report", *map(str, UPSTREAM), "--out", str(out),
           "--attack", str(DATA / "attack" / "enterprise-attack-18.1.json"), *extra]
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    total = time.perf_counter() - t
    lines = [line for line in r.stderr.splitlines() if re.search(r"\(\d+\.\d s\)$", line)]
    return total, {p.relative_to(out).as_posix(): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}, lines


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        total, sizes, lines = _run(tmp, "default")
        bundle = sum(sizes.values())
        print("\n".join(lines))
        print(f"default report (coverage + mis-tagged): {total:.1f} s (target < 20 s) "
              f"{'ok' if total < 20 else 'MISS'}; bundle {bundle / 2**20:.2f} MiB in {len(sizes)} files "
              f"(target <= 8 MiB) {'ok' if bundle <= 8 * 2**20 else 'MISS'}")
        total, sizes, lines = _run(tmp, "compare", "--compare-attack",
                                   str(DATA / "attack" / "enterprise-attack-13.1.json"))
    print("\n".join(lines))
    for name, size in sizes.items():
        print(f"  {name:<24}{size / 2**20:6.2f} MiB")
    print(f"with the comparison: {total:.1f} s, {sum(sizes.values()) / 2**20:.2f} MiB on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
