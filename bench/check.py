"""Tag-check speed, side by side in one run.

    python bench/check.py [--runs N]

1. ``falco-coverage check`` on the three upstream files at ATT&CK 18.1 with a warm cache, as a whole
   process (interpreter start and imports included), median of N runs. Target: < 1.5 s.
   Beside it: ``python -c pass`` and ``import falco_coverage.run.cli`` (the floor a process cannot beat).
2. ``check(ruleset, attack)`` alone, in process, after loading. Target: < 0.2 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from _bench import DATA, UPSTREAM, median_time, runs_arg


ATTACK = DATA / "attack" / "enterprise-attack-18.1.json"


def median_run(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    return median_time(lambda: subprocess.run(cmd, env=env, capture_output=True, check=False), runs)


def main() -> None:
    args = runs_arg(__doc__)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FALCO_COVERAGE_CACHE_DIR": cache}
        os.environ["FALCO_COVERAGE_CACHE_DIR"] = cache
        cmd = [sys.executable, "-m", "falco_coverage", "check", *map(str, UPSTREAM), "--attack", str(ATTACK),
               "--fail-on", "never"]
        subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the cache
        t_proc = median_run(cmd, args.runs, env)
        t_python = median_run([sys.executable, "-c", "pass"], args.runs, env)
        t_import = median_run([sys.executable, "-c", "import falco_coverage.run.cli, pandas"], args.runs, env)

        from falco_coverage import load_attack, load_rules
        from falco_coverage.analysis.tags.checks import check
        from falco_coverage.config import CheckConfig

        rs = load_rules(*UPSTREAM)
        attack = load_attack(ATTACK)
        t_check = median_time(lambda: check(rs, attack, config=CheckConfig()), args.runs)
        findings = check(rs, attack, config=CheckConfig())
    print(f"rules: {len(rs.rules)} upstream rules; ATT&CK {attack.version}; {len(findings)} findings")
    print(f"python -c pass                       {t_python:6.3f} s")
    print(f"import falco_coverage.run.cli + pandas   {t_import:6.3f} s")
    print(f"falco-coverage check (whole process) {t_proc:6.3f} s  target < 1.5 s  {'ok' if t_proc < 1.5 else 'MISS'}")
    print(f"check() alone                        {t_check:6.3f} s  target < 0.2 s  {'ok' if t_check < 0.2 else 'MISS'}")
    print(f"whole process / import floor = {t_proc / t_import:.1f}x")


if __name__ == "__main__":
    main()
