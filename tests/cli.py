"""The command line in-process (fast: no interpreter start, no imports again), with a subprocess's result."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

from falco_coverage.run.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``falco-coverage ARGS`` run by :func:`main` in this process: exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors (exit 2) and --help, --version (exit 0)
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdout, sys.stderr = saved
    return subprocess.CompletedProcess(["falco-coverage", *args], code, out.getvalue(), err.getvalue())


def run_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m falco_coverage ARGS`` as a real process (for what only a process shows)."""
    return subprocess.run([sys.executable, "-m", "falco_coverage", *args], capture_output=True, text=True,
                          timeout=timeout)
