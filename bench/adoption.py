"""Adoption: the core install (size, time), the CI gate (check against the import floor, warm and
cold) and the default test run, measured side by side in one run.

    python bench/adoption.py [--runs N] [--tests]

1. A wheel of this checkout installed without extras into a fresh venv (what ``pip install
   falco-coverage`` and the pre-commit hook install): install time and venv size. Target: <= 250 MB.
   Beside it, the size of the venv the bench runs in (the dev install, every extra).
2. In that core venv, ``falco-coverage check`` on upstream ``falco_rules.yaml`` (the built-in ATT&CK
   19.1), a whole process, warm cache, median of N, interleaved with ``python -c "import pandas,
   yaml"`` (the floor). Target: <= 1.5x the floor.
3. The first check on a fresh machine: a new, empty cache (the suggestion index is built then).
   Target: <= 3 s.
4. With ``--tests``: README's test command (``python -m pytest -q``) in the dev venv. Target: <= 3 min.

Bytecode is written as a user's machine does (``PYTHONDONTWRITEBYTECODE`` is dropped for the runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import DATA

REPO = Path(__file__).resolve().parents[1]
RULES = DATA / "falco-rules" / "main" / "falco_rules.yaml"


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--tests", action="store_true", help="also time README's test command")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rules = RULES if RULES.exists() else REPO / "tests" / "fixtures" / "rules" / "base.yaml"
    with tempfile.TemporaryDirectory() as work:
        tmp = Path(work)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(REPO)],
                       check=True, capture_output=True, env=env)
        wheel = next((tmp / "dist").glob("*.whl"))
        venv = tmp / "core"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True,
                       env=env)
        install_s = time.perf_counter() - t
        core_mb, dev_mb = size_mb(venv), size_mb(Path(sys.prefix))
        exe = str(venv / "bin" / "falco-coverage")
        check = [exe, "check", str(rules), "--fail-on", "never"]
        floor = [str(venv / "bin" / "python"), "-c", "import pandas, yaml"]

        colds = []
        for i in range(3):  # a fresh machine: nothing cached yet
            cold_env = {**env, "FALCO_COVERAGE_CACHE_DIR": str(tmp / f"cold{i}")}
            colds.append(timed(check, cold_env))
        warm_env = {**env, "FALCO_COVERAGE_CACHE_DIR": str(tmp / "warm")}
        timed(check, warm_env)
        timed(floor, warm_env)
        t_check, t_floor = [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine
            t_floor.append(timed(floor, warm_env))
            t_check.append(timed(check, warm_env))
        floor_s, check_s, cold_s = statistics.median(t_floor), statistics.median(t_check), statistics.median(colds)

    print(f"rules: {rules.name}; {args.runs} interleaved runs; python {sys.version.split()[0]}")
    print(f"core venv (wheel, no extras)     {core_mb:7.0f} MB  target <= 250 MB  {'ok' if core_mb <= 250 else 'MISS'}")
    print(f"core install time                {install_s:7.1f} s   (what the pre-commit hook installs)")
    print(f"dev venv (every extra), beside   {dev_mb:7.0f} MB")
    print(f"import pandas, yaml (floor)      {floor_s:7.3f} s")
    print(f"check, warm (whole process)      {check_s:7.3f} s   {check_s / floor_s:.2f}x the floor  target <= 1.5x  "
          f"{'ok' if check_s <= 1.5 * floor_s else 'MISS'}")
    print(f"check, first run (empty cache)   {cold_s:7.3f} s   target <= 3 s  {'ok' if cold_s <= 3 else 'MISS'}")
    if args.tests:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=REPO, env=env,
                           capture_output=True, text=True)
        tests_s = time.perf_counter() - t
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-200:]
        print(f"README's test command            {tests_s:7.1f} s   target <= 180 s  "
              f"{'ok' if tests_s <= 180 and r.returncode == 0 else 'MISS'}  ({last})")


if __name__ == "__main__":
    main()
