"""What the bench scripts share (``python bench/<name>.py`` puts this folder on sys.path)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MAIN = DATA / "falco-rules" / "main"
UPSTREAM = [MAIN / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")]


def runs_arg(doc: str, default: int = 5) -> argparse.Namespace:
    """Parse ``--runs N`` (and nothing else) for a bench script whose docstring is ``doc``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--runs", type=int, default=default)
    return ap.parse_args()


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
