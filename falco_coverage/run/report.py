"""Headless reports: execute the notebooks with papermill, export self-contained HTML with nbconvert.

Each report embeds plotly.js once (plotly's ``notebook`` renderer) and loads nothing from a CDN (the
``offline`` nbconvert template), so it opens without a network. ``reports/index.html`` links them.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import FalcoCoverageError
from ..fsutil import atomic_write
from ..rules.paths import example_rules, resolve_rules, uses_example_rules

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parents[1]
NOTEBOOKS = {"coverage": "coverage.ipynb", "mistagged": "mistagged_rules.ipynb", "compare": "compare.ipynb"}
TITLES = {"coverage": "ATT&CK coverage", "mistagged": "Mis-tagged rules", "compare": "Comparison"}


def notebooks_dir() -> Path:
    """The notebooks folder: the repository's, else the copy installed with the package."""
    for candidate in (REPO / "notebooks", Path(sys.prefix) / "share" / "falco-coverage" / "notebooks"):
        if (candidate / NOTEBOOKS["coverage"]).is_file():
            return candidate
    raise FalcoCoverageError("the falco-coverage notebooks are not installed (expected notebooks/ in the repository)")


@dataclass
class NotebookResult:
    key: str
    title: str
    html: Path | None
    seconds: float
    error: str | None = None


@dataclass
class ReportResult:
    out_dir: Path
    index: Path
    results: list[NotebookResult] = field(default_factory=list)
    #: load errors in the user's files: Falco would refuse to start with these rules
    load_errors: int = 0
    #: the shipped example rules were reported on (nothing given, nothing installed)
    example: bool = False

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.results if r.error]


def _describe_failure(exc: Exception) -> str:
    cell = getattr(exc, "exec_count", None) or getattr(exc, "cell_index", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = " ".join(str(getattr(exc, "evalue", exc)).split())[:300]
    return f"cell {cell}: {ename}: {evalue}" if cell is not None else f"{ename}: {evalue}"


@contextlib.contextmanager
def _captured_stderr() -> Iterator[Path]:
    """Send file descriptor 2 (where the kernel's own warnings go) to a temporary file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.NamedTemporaryFile(prefix="falco-coverage-kernel-", suffix=".log", delete=False) as log:
        os.dup2(log.fileno(), 2)
        try:
            yield Path(log.name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def export_html(notebook: Path, target: Path) -> None:
    """nbconvert the executed notebook to HTML without code cells, with the offline template."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(PACKAGE / "templates")])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    atomic_write(target, body.encode("utf-8"))


def run_report(
    rules: list[str] | None, *, base: list[str] | None = None, out_dir: str | Path = "reports",
    attack: str | None = None, attack_version: str | None = None, notebooks: list[str] | None = None,
    compare_with: list[str] | None = None, compare_attack: str | None = None,
    compare_attack_version: str | None = None, scope: dict[str, Any] | None = None,
    config: str | None = None, cache: bool = True, progress: bool = True, falco_version: str | None = None,
) -> ReportResult:
    """Execute the notebooks with these parameters and write HTML reports and an index to ``out_dir``.

    ``scope`` may hold ``platforms``, ``maturities``, ``min_priority``, ``sources`` and
    ``include_disabled``; it applies to every notebook, the comparison included.
    """
    import papermill as pm

    from ..attack import load_attack
    from ..config import load_config
    from ..rules import load_rules

    logging.getLogger("papermill").setLevel(logging.ERROR)

    rule_paths = resolve_rules(rules)
    example = uses_example_rules(rules)
    missing = [p for p in [*rule_paths, *(base or []), *(compare_with or [])] if not Path(p).exists()]
    if missing:
        raise FalcoCoverageError(f"no such rules file or directory: {', '.join(missing)}")
    if example and progress:
        print(f"falco-coverage: note: no rules given and none installed in /etc/falco: reporting on the EXAMPLE "
              f"rule set ({example_rules()})", file=sys.stderr)
    if config is not None:
        load_config(config)  # a bad configuration fails here, once, not in every notebook
    ruleset = load_rules(*rule_paths, base=base or [], falco_version=falco_version)
    attack_data = load_attack(attack, version=attack_version, cache=cache)  # fail early, name the release
    keys = notebooks or ["coverage", "mistagged", "compare"]
    unknown = [k for k in keys if k not in NOTEBOOKS]
    if unknown:
        raise FalcoCoverageError(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FalcoCoverageError("is a file, not a directory for the reports", file=out)
    try:  # each run works in a directory of its own, then moves its results into place
        out.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".run-", dir=out))
    except OSError as exc:
        raise FalcoCoverageError(f"cannot write the reports here: {exc.strerror or exc}", file=out) from None
    if falco_version is not None:  # a notebook parameter like the scope's
        scope = {**(scope or {}), "falco_version": falco_version}
    try:
        return _run(pm, keys, out, work, rule_paths, base, example, attack_data, ruleset, compare_with,
                    compare_attack, compare_attack_version, scope, config, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(pm: Any, keys: list[str], out: Path, work: Path, rule_paths: list[str], base: list[str] | None,
         example: bool, attack_data: Any, ruleset: Any, compare_with: list[str] | None, compare_attack: str | None,
         compare_attack_version: str | None, scope: dict[str, Any] | None, config: str | None,
         progress: bool) -> ReportResult:
    executed_dir = work / "notebooks"
    executed_dir.mkdir()
    src_dir = notebooks_dir()
    # notebooks run in the output directory: every path they get must be absolute
    params: dict[str, Any] = {
        "rules": [str(Path(p).resolve()) for p in rule_paths],
        "base_rules": [str(Path(p).resolve()) for p in base or []],
        "attack": str(Path(attack_data.source_path).resolve()) if attack_data.source_path else None,
        "attack_version": attack_data.version,
        "config": str(Path(config).resolve()) if config else None, "example_rules": example,
        "output_dir": str(work.resolve()), **(scope or {}),
    }
    has_compare = bool(compare_with or compare_attack or compare_attack_version)
    result = ReportResult(out, out / "index.html",
                          load_errors=len(ruleset.own_errors), example=example)
    for n, key in enumerate(keys, 1):
        if key == "compare" and not has_compare:
            if progress:
                print(f"[{n}/{len(keys)}] {key}: skipped (give --compare-with or --compare-attack[-version])",
                      file=sys.stderr)
            continue
        nb_params = dict(params)
        if key == "compare":
            nb_params.update(compare_rules=[str(Path(p).resolve()) for p in compare_with] if compare_with else None,
                             compare_attack=str(Path(compare_attack).resolve()) if compare_attack else None,
                             compare_attack_version=compare_attack_version)
        if progress:
            print(f"[{n}/{len(keys)}] {key}: running {NOTEBOOKS[key]} ...", file=sys.stderr, flush=True)
        executed = executed_dir / NOTEBOOKS[key]
        target = work / NOTEBOOKS[key].replace(".ipynb", ".html")
        start = time.perf_counter()
        error = None
        with _captured_stderr() as kernel_log:
            try:
                pm.execute_notebook(str(src_dir / NOTEBOOKS[key]), str(executed), parameters=nb_params,
                                    kernel_name="python3", progress_bar=False, cwd=str(work.resolve()),
                                    log_output=False)
            except Exception as exc:  # a failing notebook must not stop the others
                error = f"{NOTEBOOKS[key]}: {_describe_failure(exc)}"
        if error and progress:
            sys.stderr.write(kernel_log.read_text(errors="replace"))
        kernel_log.unlink(missing_ok=True)
        html_path: Path | None = None
        if executed.exists():
            try:
                export_html(executed, target)
                html_path = target
            except Exception as exc:
                error = error or f"{NOTEBOOKS[key]}: HTML export failed: {exc}"
        secs = time.perf_counter() - start
        result.results.append(NotebookResult(key, TITLES[key], html_path, secs, error))
        if progress:
            status = f"FAILED: {error}" if error else f"{out / target.name} ({secs:.1f} s)"
            print(f"[{n}/{len(keys)}] {key}: {status}", file=sys.stderr, flush=True)
    _publish(result, work)
    write_index(result, rule_paths, attack_data.version, compare_with, attack_data.origin)
    if result.load_errors and progress:
        print(f"falco-coverage: Falco would refuse these rules: {result.load_errors} load error(s) (details: "
              f"falco-coverage rules {' '.join(rule_paths)})", file=sys.stderr)
    return result


#: what a run writes into the output directory, beside index.html
PRODUCTS = (*(n.replace(".ipynb", ".html") for n in NOTEBOOKS.values()), "coverage-layer.json")


def _publish(result: ReportResult, work: Path) -> None:
    """Move this run's files into the output directory (each move atomic); remove the products of an
    earlier run that this one did not make, so the index never links a stale file as current."""
    out = result.out_dir
    (out / "notebooks").mkdir(exist_ok=True)
    for name in PRODUCTS:
        made = work / name
        if made.exists():
            os.replace(made, out / name)
        else:
            (out / name).unlink(missing_ok=True)
    for r in result.results:
        if r.html is not None:
            r.html = out / r.html.name
    for nb in (work / "notebooks").glob("*.ipynb"):
        os.replace(nb, out / "notebooks" / nb.name)


def write_index(result: ReportResult, rule_paths: list[str], attack_version: str | None,
                compare_with: list[str] | None, attack_origin: str = "") -> None:
    """``index.html``: links to the reports with the date, ATT&CK version and rule files (all escaped)."""
    e = html.escape
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    items = []
    for r in result.results:
        if r.html is not None:
            link = f'<a href="{e(os.path.relpath(r.html, result.out_dir))}">{e(r.title)}</a>'
        else:
            link = e(r.title)
        note = f' <span class="err">failed — {e(r.error)}</span>' if r.error else f" <small>({r.seconds:.1f} s)</small>"
        items.append(f"<li>{link}{note}</li>")
    layer = result.out_dir / "coverage-layer.json"
    if layer.exists():
        items.append('<li><a href="coverage-layer.json">ATT&amp;CK Navigator layer</a> (open it in the Navigator)</li>')
    files = "".join(f"<li><code>{e(p)}</code></li>" for p in rule_paths)
    extra = "".join(f"<li><code>{e(p)}</code></li>" for p in compare_with or [])
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>falco-coverage reports</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{{font-family:Helvetica,Arial,sans-serif;max-width:52rem;margin:2rem auto;color:#222}}
li{{margin:.3rem 0}}.err{{color:#b00020}}code{{font-size:.9em}}</style></head>
<body><h1>falco-coverage reports</h1>
{'<p class="err"><b>Example rules:</b> no rules were given and none are installed, so these reports show '
  'the example rule set shipped with falco-coverage, not yours.</p>' if result.example else ''}
{f'<p class="err"><b>Falco would refuse these rules:</b> {result.load_errors} load error(s); see the '
  'mis-tagged rules report.</p>' if result.load_errors else ''}
<p>Generated {e(now)} · ATT&amp;CK {e(attack_version or "unknown version")}{f" ({e(attack_origin)})" if attack_origin else ""}</p>
<ul>{"".join(items)}</ul>
<h2>Rule files</h2><ul>{files}</ul>
{f"<h2>Compared with</h2><ul>{extra}</ul>" if extra else ""}
</body></html>
"""
    atomic_write(result.index, page.encode("utf-8"))
