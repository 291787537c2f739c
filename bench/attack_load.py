"""ATT&CK load speed and memory, side by side in one run.

    python bench/attack_load.py [BUNDLE] [--runs N]

Times (median of N runs, in process): bare ``json.load``, ``load_attack`` cold (cache=False),
``load_attack`` warm (cache hit), the built-in snapshot (``load_attack()``, cold and warm: it is
read from the package each time, so both are the same path), and ``mitreattack.stix20.MitreAttackData(path)``.
Peak memory: each approach once in a fresh child process (ru_maxrss, includes the interpreter
and its imports).
Targets (issue 2): cold <= 1.5x json.load, cold >= 10x faster than MitreAttackData,
warm < 0.15 s, peak < 600 MB; built-in within the cache's warm figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import DATA, median_time


DEFAULT = DATA / "attack" / "enterprise-attack-18.1.json"

CHILD = {
    "json.load": "import json; json.load(open(P))",
    "load_attack cold": "from falco_coverage import load_attack; load_attack(P, cache=False)",
    "load_attack warm": "from falco_coverage import load_attack; load_attack(P)",
    "built-in": "from falco_coverage import load_attack; load_attack()",
    "MitreAttackData": "from mitreattack.stix20 import MitreAttackData; MitreAttackData(P)",
}


def _peak_mb(code: str, path: Path, env: dict[str, str]) -> float:
    prog = f"P={str(path)!r}\n{code}\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    path = args.bundle
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FALCO_COVERAGE_CACHE_DIR"] = cache
        env = dict(os.environ)
        # Children first: Linux keeps ru_maxrss across fork+exec, so a big parent would mask theirs.
        _peak_mb(CHILD["load_attack cold"].replace("cache=False", ""), path, env)  # warm the cache
        peaks = {name: _peak_mb(code, path, env) for name, code in CHILD.items()}
        from falco_coverage import load_attack
        from mitreattack.stix20 import MitreAttackData

        load_attack(path)  # fill the cache for the warm runs
        t_json = median_time(lambda: json.load(open(path)), args.runs)
        t_cold = median_time(lambda: load_attack(path, cache=False), args.runs)
        t_warm = median_time(lambda: load_attack(path), args.runs)
        os.environ.pop("FALCO_COVERAGE_ATTACK", None)
        os.environ.pop("FALCO_COVERAGE_ATTACK_DIR", None)
        t_builtin = median_time(lambda: load_attack(), args.runs)
        t_mad = median_time(lambda: MitreAttackData(str(path)), max(1, args.runs // 2))

    size = path.stat().st_size / 1e6
    print(f"bundle: {path.name} ({size:.1f} MB), median of {args.runs} runs")
    print(f"{'approach':<20}{'time (s)':>10}{'peak RSS (MB)':>16}")
    for name, t in [("json.load", t_json), ("load_attack cold", t_cold),
                    ("load_attack warm", t_warm), ("built-in", t_builtin), ("MitreAttackData", t_mad)]:
        print(f"{name:<20}{t:>10.3f}{peaks[name]:>16.0f}")
    checks = [
        (f"cold / json.load        = {t_cold / t_json:5.2f}x  (target <= 1.5x)", t_cold / t_json <= 1.5),
        (f"MitreAttackData / cold  = {t_mad / t_cold:5.1f}x  (target >= 10x)", t_mad / t_cold >= 10),
        (f"warm                    = {t_warm:5.3f} s (target < 0.15 s)", t_warm < 0.15),
        (f"cold / warm             = {t_cold / t_warm:5.1f}x", True),
        (f"built-in                = {t_builtin:5.3f} s (target: within the warm cache, {t_warm:5.3f} s, +10%)",
         t_builtin <= 1.1 * t_warm),
        (f"peak RSS cold           = {peaks['load_attack cold']:5.0f} MB (target < 600 MB)",
         peaks["load_attack cold"] < 600),
    ]
    for text, ok in checks:
        print(("ok    " if ok else "MISS  ") + text)


if __name__ == "__main__":
    main()
