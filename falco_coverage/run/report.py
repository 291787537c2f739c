"""Headless reports: execute the notebooks with papermill, export self-contained HTML with nbconvert.

Each report embeds plotly.js once (plotly's ``notebook`` renderer) and loads nothing from a CDN (the
``offline`` nbconvert template), so it opens without a network. ``reports/index.html`` is the landing
page (:mod:`falco_coverage.present.landing`): headline numbers, top gaps, links. The executed
notebooks are kept only with ``keep_notebooks``.
"""

from __future__ import annotations

import contextlib
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

from ..attack import AttackData
from ..errors import FalcoCoverageError
from ..fsutil import atomic_write
from ..analysis.summary import build_summary, changes, coverage_share, dumps, record_history
from ..present.landing import PAGE_CSS, Headline, Link, Trend, landing_page
from ..present.notebook import REPORT_ENV
from ..rules import RuleSet
from ..rules.paths import example_rules, resolve_rules, uses_example_rules

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parents[1]
NOTEBOOKS = {"coverage": "coverage.ipynb", "mistagged": "mistagged_rules.ipynb", "compare": "compare.ipynb",
             "observed": "observed.ipynb"}
TITLES = {"coverage": "ATT&CK coverage", "mistagged": "Mis-tagged rules", "compare": "Comparison",
          "observed": "What fired"}
_SUMMARIES = {"coverage": "the matrix, coverage per tactic, gaps",
              "mistagged": "wrong ATT&CK tags with file:line and the fix; Falco's load diagnostics",
              "compare": "what changed between two rule sets or two ATT&CK releases",
              "observed": "which rules and techniques fired, silent and noisy rules, from Falco's alerts"}


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
    #: the landing page's numbers (None when they could not be computed)
    headline: Headline | None = None
    #: keep the executed notebooks under ``notebooks/`` (``--keep-notebooks``)
    keep_notebooks: bool = False
    #: the run history of this report's name (``--history``)
    trend: Trend | None = None

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


def export_html(notebook: Path, target: Path, title: str = "falco-coverage report") -> None:
    """nbconvert the executed notebook to HTML without code cells, with the offline template."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(PACKAGE / "templates")])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4),
                                          resources={"metadata": {"name": f"{title} · falco-coverage"}})
    body = body.replace("</head>", f"<style>{PAGE_CSS}</style>\n</head>", 1)
    atomic_write(target, body.encode("utf-8"))


def run_report(
    rules: list[str] | None, *, base: list[str] | None = None, out_dir: str | Path = "reports",
    attack: str | None = None, attack_version: str | None = None, notebooks: list[str] | None = None,
    compare_with: list[str] | None = None, compare_attack: str | None = None,
    compare_attack_version: str | None = None, scope: dict[str, Any] | None = None,
    config: str | None = None, cache: bool = True, progress: bool = True, falco_version: str | None = None,
    keep_notebooks: bool = False, alerts: list[str] | None = None, since: str | None = None,
    until: str | None = None, name: str | None = None, history: str | Path | None = None,
    summary_only: bool = False,
) -> ReportResult:
    """Execute the notebooks with these parameters and write HTML reports and an index to ``out_dir``.

    ``scope`` may hold ``platforms``, ``maturities``, ``min_priority``, ``sources``, ``sensors`` and
    ``include_disabled``; it applies to every notebook, the comparison included. ``alerts`` (files or
    directories of Falco alerts or metrics, read by :func:`falco_coverage.alerts.load_alerts`, within
    ``since``/``until``) make the ``observed`` report.

    Every run writes ``summary.json`` (:mod:`falco_coverage.analysis.summary`) named ``name`` (default:
    the first rules file's stem); ``history`` (a directory) also keeps a copy there, and the landing
    page then shows the trend. ``summary_only`` writes the summary and nothing else (no notebooks).
    """
    from ..attack import load_attack
    from ..config import load_config
    from ..rules import load_rules

    logging.getLogger("papermill").setLevel(logging.ERROR)

    rule_paths = resolve_rules(rules)
    example = uses_example_rules(rules)
    missing = [p for p in [*rule_paths, *(base or []), *(compare_with or [])] if not Path(p).exists()]
    if missing:
        raise FalcoCoverageError(f"no such rules file or directory: {', '.join(missing)}")
    gone = [p for p in alerts or [] if not Path(p).exists()]
    if gone:
        raise FalcoCoverageError(f"no such alerts file or directory: {', '.join(gone)}")
    if example and progress:
        print(f"falco-coverage: note: no rules given and none installed in /etc/falco: reporting on the EXAMPLE "
              f"rule set ({example_rules()})", file=sys.stderr)
    if config is not None:
        load_config(config)  # a bad configuration fails here, once, not in every notebook
    ruleset = load_rules(*rule_paths, base=base or [], falco_version=falco_version)
    attack_data = load_attack(attack, version=attack_version, cache=cache)  # fail early, name the release
    keys = notebooks or list(NOTEBOOKS)
    unknown = [k for k in keys if k not in NOTEBOOKS]
    if unknown:
        raise FalcoCoverageError(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FalcoCoverageError("is a file, not a directory for the reports", file=out)
    if history is not None and Path(history).exists() and not Path(history).is_dir():
        raise FalcoCoverageError("is a file, not a directory for the run history", file=history)
    name = name or (Path(rule_paths[0]).stem if rule_paths else "rules")
    headline: Headline | None = None
    summary: dict[str, Any] | None = None
    try:
        headline, summary = _measure(ruleset, attack_data, scope or {}, config, name=name,
                                     rule_files=[*(base or []), *rule_paths],
                                     alerts=alerts, since=since, until=until)
    except FalcoCoverageError:  # a bad scope: the notebooks fail on it too, and are named
        if summary_only:
            raise
    trend = _trend(record_history(Path(history), summary)) if history is not None and summary else None
    try:  # each run works in a directory of its own, then moves its results into place
        out.mkdir(parents=True, exist_ok=True)
        if summary_only and summary is not None:
            atomic_write(out / "summary.json", dumps(summary))
            return ReportResult(out, out / "summary.json", load_errors=len(ruleset.own_errors), example=example,
                                headline=headline)
        work = Path(tempfile.mkdtemp(prefix=".run-", dir=out))
        if summary is not None:
            atomic_write(work / "summary.json", dumps(summary))
    except OSError as exc:
        raise FalcoCoverageError(f"cannot write the reports here: {exc.strerror or exc}", file=out) from None
    import papermill as pm

    if falco_version is not None:  # a notebook parameter like the scope's
        scope = {**(scope or {}), "falco_version": falco_version}
    saved_env = os.environ.get(REPORT_ENV)
    os.environ[REPORT_ENV] = "1"  # the kernels inherit it: figures embed plotly.js, tables go offline
    try:
        result = ReportResult(out, out / "index.html", load_errors=len(ruleset.own_errors), example=example,
                              headline=headline, keep_notebooks=keep_notebooks, trend=trend)
        seen = {"alerts": [str(Path(p).resolve()) for p in alerts or []], "since": since, "until": until}
        return _run(pm, keys, work, rule_paths, base, attack_data, compare_with, compare_attack,
                    compare_attack_version, scope, config, progress, result, seen)
    finally:
        if saved_env is None:
            os.environ.pop(REPORT_ENV, None)
        else:
            os.environ[REPORT_ENV] = saved_env
        shutil.rmtree(work, ignore_errors=True)


def _measure(ruleset: RuleSet, attack_data: AttackData, scope: dict[str, Any], config: str | None, *, name: str,
             rule_files: list[str], alerts: list[str] | None, since: str | None,
             until: str | None) -> tuple[Headline, dict[str, Any]]:
    """The landing page's numbers and the run's summary, in the same scope as the reports."""
    import pandas as pd

    from ..analysis.checks import check
    from ..analysis.coverage import coverage
    from ..analysis.lint import lint
    from ..config import load_config

    cfg = load_config(config)
    cov = coverage(ruleset, attack_data, platforms=scope.get("platforms"), maturities=scope.get("maturities"),
                   min_priority=scope.get("min_priority"), sources=scope.get("sources"),
                   enabled_only=not scope.get("include_disabled", False),
                   source_platforms=cfg.source_platforms, sensors=scope.get("sensors"), sensor_profile=cfg.sensors)
    s = cov.summary()
    found = check(ruleset, attack_data, config=cfg, suggest=False)
    severities = found["severity"].astype(str)
    gaps = [(str(t), str(n), str(u), int(g)) for t, n, u, g in
            cov.gaps.head(5)[["technique_id", "name", "url", "n_groups"]].itertuples(index=False)]
    headline = Headline(int(s["covered"]), int(s["applicable"]), float(s["coverage"]), int(s["rules"]),
                        len(ruleset.own_errors), int((severities == "error").sum()),
                        int((severities == "warning").sum()), cov.scope.describe(), gaps,
                        int(s["observable"]) if cov.has_observability else None)
    seen = None
    if alerts:
        from ..alerts import load_alerts
        from ..analysis.observed import observed

        seen = observed(ruleset, load_alerts(*alerts, since=since, until=until).alerts)
    linted = lint(ruleset, config=cfg)
    findings = pd.concat([found, linted], ignore_index=True) if len(linted) else found
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    summary = build_summary(ruleset, attack_data, cov, findings, name=name, generated=generated,
                            rule_files=rule_files, observed=seen)
    return headline, summary


def _trend(runs: list[dict[str, Any]]) -> Trend:
    """The landing page's history section from a name's runs, oldest first."""
    moved = changes(runs[-2], runs[-1]) if len(runs) > 1 else {"gained": [], "lost": []}
    # the findings count load errors already (check reports them as findings)
    rows = [(d["generated"], coverage_share(d), int(d.get("findings", {}).get("by_severity", {}).get("error", 0)),
             int(d.get("findings", {}).get("by_severity", {}).get("warning", 0))) for d in runs]
    names = {tid: str(t.get("name", "")) for d in runs[-2:] for tid, t in d["techniques"].items()}
    return Trend(rows, moved["gained"], moved["lost"], names)


def _run(pm: Any, keys: list[str], work: Path, rule_paths: list[str], base: list[str] | None,
         attack_data: AttackData, compare_with: list[str] | None, compare_attack: str | None,
         compare_attack_version: str | None, scope: dict[str, Any] | None, config: str | None,
         progress: bool, result: ReportResult, seen: dict[str, Any]) -> ReportResult:
    out = result.out_dir
    work = work.resolve()
    executed_dir = work / "notebooks"
    executed_dir.mkdir()
    src_dir = notebooks_dir()
    # notebooks run in the output directory: every path they get must be absolute
    params: dict[str, Any] = {
        "rules": [str(Path(p).resolve()) for p in rule_paths],
        "base_rules": [str(Path(p).resolve()) for p in base or []],
        "attack": str(Path(attack_data.source_path).resolve()) if attack_data.source_path else None,
        "attack_version": attack_data.version,
        "config": str(Path(config).resolve()) if config else None, "example_rules": result.example,
        "output_dir": str(work.resolve()), **(scope or {}),
    }
    has_compare = bool(compare_with or compare_attack or compare_attack_version)
    jobs: list[tuple[int, str, dict[str, Any]]] = []
    skipped: list[str] = []
    for n, key in enumerate(keys, 1):
        if key == "compare" and not has_compare:
            skipped.append(f"[{n}/{len(keys)}] {key}: skipped (give --compare-with or --compare-attack[-version])")
            continue
        if key == "observed" and not seen["alerts"]:
            skipped.append(f"[{n}/{len(keys)}] {key}: skipped (give --alerts)")
            continue
        nb_params = dict(params)
        if key == "observed":
            nb_params.update(seen)
        if key == "compare":
            nb_params.update(compare_rules=[str(Path(p).resolve()) for p in compare_with] if compare_with else None,
                             compare_attack=str(Path(compare_attack).resolve()) if compare_attack else None,
                             compare_attack_version=compare_attack_version)
        jobs.append((n, key, nb_params))

    def execute(key: str, nb_params: dict[str, Any]) -> NotebookResult:
        executed = executed_dir / NOTEBOOKS[key]
        target = work / NOTEBOOKS[key].replace(".ipynb", ".html")
        start = time.perf_counter()
        error = None
        try:
            # no cwd=: papermill would chdir the whole process, under the other thread's feet; the
            # notebooks get absolute paths for everything they read and write
            pm.execute_notebook(str(src_dir / NOTEBOOKS[key]), str(executed), parameters=nb_params,
                                kernel_name="python3", progress_bar=False, log_output=False)
        except Exception as exc:  # a failing notebook must not stop the others
            error = f"{NOTEBOOKS[key]}: {_describe_failure(exc)}"
        html_path: Path | None = None
        if executed.exists():
            try:
                export_html(executed, target, TITLES[key])
                html_path = target
            except Exception as exc:
                error = error or f"{NOTEBOOKS[key]}: HTML export failed: {exc}"
        return NotebookResult(key, TITLES[key], html_path, time.perf_counter() - start, error)

    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    sys.stderr.flush()
    term = os.fdopen(os.dup(2), "w", buffering=1)  # the user's terminal, while fd 2 goes to the kernel log
    bar = tqdm(total=len(jobs), desc="reports", unit="report", disable=not progress or None, leave=False, file=term)
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    # the notebooks run side by side, one kernel each (one per core); kernels share this process's stderr
    with _captured_stderr() as kernel_log, ThreadPoolExecutor(max_workers=workers) as pool:
        if progress:
            for n, key, _ in jobs:
                bar.write(f"[{n}/{len(keys)}] {key}: running {NOTEBOOKS[key]} ...", file=term)
            for line in skipped:  # after the ones that run, in their order
                bar.write(line, file=term)
        futures = [(n, pool.submit(execute, key, nb_params)) for n, key, nb_params in jobs]
        for n, future in futures:
            done = future.result()
            result.results.append(done)
            bar.update()
            if progress:
                status = f"FAILED: {done.error}" if done.error else f"{out / done.html.name} ({done.seconds:.1f} s)" \
                    if done.html is not None else "no HTML"
                bar.write(f"[{n}/{len(keys)}] {done.key}: {status}", file=term)
    bar.close()
    term.close()
    if progress and result.failed:
        sys.stderr.write(kernel_log.read_text(errors="replace"))
    kernel_log.unlink(missing_ok=True)
    _publish(result, work)
    write_index(result, rule_paths, attack_data.version, compare_with, attack_data.origin)
    if result.load_errors and progress:
        print(f"falco-coverage: Falco would refuse these rules: {result.load_errors} load error(s) (details: "
              f"falco-coverage rules {' '.join(rule_paths)})", file=sys.stderr)
    return result


#: what a run writes into the output directory, beside index.html
PRODUCTS = (*(n.replace(".ipynb", ".html") for n in NOTEBOOKS.values()), "coverage-layer.json",
            "coverage-states-layer.json", "summary.json")


def _publish(result: ReportResult, work: Path) -> None:
    """Move this run's files into the output directory (each move atomic); remove the products of an
    earlier run that this one did not make, so the index never links a stale file as current."""
    out = result.out_dir
    for name in PRODUCTS:
        made = work / name
        if made.exists():
            os.replace(made, out / name)
        else:
            (out / name).unlink(missing_ok=True)
    for r in result.results:
        if r.html is not None:
            r.html = out / r.html.name
    if result.keep_notebooks:
        (out / "notebooks").mkdir(exist_ok=True)
        for nb in (work / "notebooks").glob("*.ipynb"):
            os.replace(nb, out / "notebooks" / nb.name)
    else:  # an earlier run's executed notebooks are stale now
        shutil.rmtree(out / "notebooks", ignore_errors=True)


def write_index(result: ReportResult, rule_paths: list[str], attack_version: str | None,
                compare_with: list[str] | None, attack_origin: str = "") -> None:
    """``index.html``: the landing page (:mod:`falco_coverage.present.landing`)."""
    from .. import __version__

    def rel(p: str) -> str:
        return os.path.relpath(Path(p).resolve(), Path.cwd()) if Path(p).is_absolute() else p

    links = [Link(r.title, os.path.relpath(r.html, result.out_dir) if r.html is not None else None,
                  _SUMMARIES.get(r.key, ""), r.error) for r in result.results]
    layer = "coverage-layer.json" if (result.out_dir / "coverage-layer.json").exists() else None
    states = "coverage-states-layer.json" if (result.out_dir / "coverage-states-layer.json").exists() else None
    page = landing_page(headline=result.headline, links=links, layer=layer, states_layer=states,
                        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
                        attack=f"ATT&CK {attack_version or 'unknown version'}"
                               + (f" ({Path(attack_origin).name if '/' in attack_origin else attack_origin})"
                                  if attack_origin else ""),
                        rule_files=[rel(p) for p in rule_paths], compare_with=[rel(p) for p in compare_with or []],
                        example=result.example, load_errors=result.load_errors, trend=result.trend)
    atomic_write(result.index, page.encode("utf-8"))
