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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FalcoCoverageError
from ..fsutil import atomic_write
from ..analysis.summary.runs import changes, coverage_share, dumps, record_history
from ..present.landing import PAGE_CSS, Headline, Landing, Link, Trend, landing_page
from ..present.notebook import REPORT_ENV
from ..request import Request

if TYPE_CHECKING:
    from ..analysis.session import Session

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


@dataclass(frozen=True)
class ReportOptions:
    """How a report run writes (what it analyses is the :class:`Request`)."""

    out_dir: Path = Path("reports")
    #: which notebooks (keys of :data:`NOTEBOOKS`); compare and observed run when the request has their input
    notebooks: tuple[str, ...] = tuple(NOTEBOOKS)
    #: the run's name in ``summary.json`` (default: the first rules file's stem)
    name: str | None = None
    #: a directory keeping every run's summary; the landing page then shows the trend
    history: Path | None = None
    #: write ``summary.json`` and nothing else (no notebooks, no HTML)
    summary_only: bool = False
    keep_notebooks: bool = False
    progress: bool = True

    @classmethod
    def of(cls, options: ReportOptions | None = None, **values: Any) -> ReportOptions:
        if "out_dir" in values:
            values["out_dir"] = Path(values["out_dir"])
        if values.get("history") is not None:
            values["history"] = Path(values["history"])
        if values.get("notebooks") is not None:
            values["notebooks"] = tuple(values["notebooks"])
        elif "notebooks" in values:
            del values["notebooks"]
        return replace(options or cls(), **values)


def run_report(request: Request | Mapping[str, Any], options: ReportOptions | None = None,
               **option_values: Any) -> ReportResult:
    """Execute the notebooks on ``request`` and write HTML reports and an index to ``options.out_dir``.

    ``request`` (a :class:`Request`, or its fields as a mapping) is opened once here; the summary and
    the landing page's numbers are computed from it, and every notebook gets the same request (its
    paths made absolute), so the pages and ``summary.json`` agree. ``options`` (or its fields as
    keywords: ``out_dir``, ``notebooks``, ``name``, ``history``, ``summary_only``,
    ``keep_notebooks``, ``progress``) say how the run writes: every run writes ``summary.json``
    (:mod:`falco_coverage.analysis.summary`); ``history`` also keeps a copy there, and the landing page
    then shows the trend; ``summary_only`` writes the summary and nothing else.
    """
    from ..analysis.session import Session

    opts = ReportOptions.of(options, **option_values)
    session = request if isinstance(request, Session) else Session(request)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    _validate(session, opts)
    ruleset = session.load().ruleset  # fail early, naming the file or the release
    name = opts.name or (Path(session.rule_paths[0]).stem if session.rule_paths else "rules")
    headline: Headline | None = None
    summary: dict[str, Any] | None = None
    try:
        headline, summary = _measure(session, name)
    except FalcoCoverageError:  # a bad scope: the notebooks fail on it too, and are named
        if opts.summary_only:
            raise
    out = opts.out_dir
    trend = _trend(record_history(opts.history, summary)) if opts.history is not None and summary else None
    result = ReportResult(out, out / "index.html", load_errors=len(ruleset.own_errors), example=session.example,
                          headline=headline, keep_notebooks=opts.keep_notebooks, trend=trend)
    try:  # each run works in a directory of its own, then moves its results into place
        out.mkdir(parents=True, exist_ok=True)
        if opts.summary_only and summary is not None:
            atomic_write(out / "summary.json", dumps(summary))
            result.index = out / "summary.json"
            return result
        work = Path(tempfile.mkdtemp(prefix=".run-", dir=out))
        if summary is not None:
            atomic_write(work / "summary.json", dumps(summary))
    except OSError as exc:
        raise FalcoCoverageError(f"cannot write the reports here: {exc.strerror or exc}", file=out) from None
    saved_env = os.environ.get(REPORT_ENV)
    os.environ[REPORT_ENV] = "1"  # the kernels inherit it: figures embed plotly.js, tables go offline
    try:
        return _run(session, opts, work, result)
    finally:
        if saved_env is None:
            os.environ.pop(REPORT_ENV, None)
        else:
            os.environ[REPORT_ENV] = saved_env
        shutil.rmtree(work, ignore_errors=True)


def _validate(session: Session, opts: ReportOptions) -> None:
    """Every input named and every output place usable, before anything runs: one error naming it."""
    r = session.request
    missing = [p for p in [*session.rule_paths, *r.base, *r.compare_rules] if not Path(p).exists()]
    if missing:
        raise FalcoCoverageError(f"no such rules file or directory: {', '.join(missing)}")
    gone = [p for p in r.alerts if not Path(p).exists()]
    if gone:
        raise FalcoCoverageError(f"no such alerts file or directory: {', '.join(gone)}")
    unknown = [k for k in opts.notebooks if k not in NOTEBOOKS]
    if unknown:
        raise FalcoCoverageError(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    if opts.out_dir.exists() and not opts.out_dir.is_dir():
        raise FalcoCoverageError("is a file, not a directory for the reports", file=opts.out_dir)
    if opts.history is not None and opts.history.exists() and not opts.history.is_dir():
        raise FalcoCoverageError("is a file, not a directory for the run history", file=opts.history)
    if session.example and opts.progress:
        print(f"falco-coverage: note: no rules given and none installed in /etc/falco: reporting on the EXAMPLE "
              f"rule set ({session.rule_paths[0]})", file=sys.stderr)
    session.load()  # a bad configuration fails here, once, not in every notebook
    if r.has_compare and "compare" in opts.notebooks and not opts.summary_only:
        session.compare_side().load()  # the other side's release and rules: a bad one fails here, not in a kernel
    if r.has_alerts:
        session.alerts()  # read once here (the summary needs them): a file that is not alerts fails before any notebook


def _measure(session: Session, name: str) -> tuple[Headline, dict[str, Any]]:
    """The landing page's numbers and the run's summary, from the session every notebook also opens."""
    cov = session.coverage()
    s = cov.summary()
    severities = session.check(suggest=False)["severity"].astype(str)
    gaps = [(str(t), str(n), str(u), int(g)) for t, n, u, g in
            cov.gaps.head(5)[["technique_id", "name", "url", "n_groups"]].itertuples(index=False)]
    headline = Headline(int(s["covered"]), int(s["applicable"]), float(s["coverage"]), int(s["rules"]),
                        len(session.ruleset.own_errors), int((severities == "error").sum()),
                        int((severities == "warning").sum()), cov.scope.describe(), gaps,
                        int(s["observable"]) if cov.has_observability else None,
                        int(s["partly_observable"]) if cov.has_observability else None)
    return headline, session.summary(name=name)


def _trend(runs: list[dict[str, Any]]) -> Trend:
    """The landing page's history section from a name's runs, oldest first."""
    moved = changes(runs[-2], runs[-1]) if len(runs) > 1 else {"gained": [], "lost": []}
    # the findings count load errors already (check reports them as findings)
    rows = [(d["generated"], coverage_share(d), int(d.get("findings", {}).get("by_severity", {}).get("error", 0)),
             int(d.get("findings", {}).get("by_severity", {}).get("warning", 0))) for d in runs]
    names = {tid: str(t.get("name", "")) for d in runs[-2:] for tid, t in d["techniques"].items()}
    return Trend(rows, moved["gained"], moved["lost"], names)


def _jobs(session: Session, opts: ReportOptions, work: Path) -> tuple[list[tuple[int, str, dict[str, Any]]], list[str]]:
    """The notebooks to run with their parameters (one request for all), and those skipped and why."""
    # the notebooks run with another working directory: every path they get is absolute
    request = replace(session.request, rules=tuple(session.rule_paths)).resolved().to_dict()
    n_all = len(opts.notebooks)
    jobs, skipped = [], []
    for n, key in enumerate(opts.notebooks, 1):
        if key == "compare" and not session.request.has_compare:
            skipped.append(f"[{n}/{n_all}] {key}: skipped (give --compare-with or --compare-attack[-version])")
        elif key == "observed" and not session.request.has_alerts:
            skipped.append(f"[{n}/{n_all}] {key}: skipped (give --alerts or --prometheus)")
        else:
            params: dict[str, Any] = {"request": request}
            if key == "coverage":
                params["output_dir"] = str(work.resolve())
            jobs.append((n, key, params))
    return jobs, skipped


def _execute(key: str, params: dict[str, Any], work: Path) -> NotebookResult:
    """Run one notebook with papermill and export its HTML; a failure is recorded, not raised."""
    import papermill as pm

    executed = work / "notebooks" / NOTEBOOKS[key]
    target = work / NOTEBOOKS[key].replace(".ipynb", ".html")
    start = time.perf_counter()
    error = None
    try:
        # no cwd=: papermill would chdir the whole process, under the other thread's feet; the
        # notebooks get absolute paths for everything they read and write
        pm.execute_notebook(str(notebooks_dir() / NOTEBOOKS[key]), str(executed), parameters=params,
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


def _run(session: Session, opts: ReportOptions, work: Path, result: ReportResult) -> ReportResult:
    """Run the notebooks side by side (one kernel per core), then publish and write the index."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    work = work.resolve()
    (work / "notebooks").mkdir()
    jobs, skipped = _jobs(session, opts, work)
    n_all, out = len(opts.notebooks), result.out_dir
    sys.stderr.flush()
    term = os.fdopen(os.dup(2), "w", buffering=1)  # the user's terminal, while fd 2 goes to the kernel log
    bar = tqdm(total=len(jobs), desc="reports", unit="report", disable=not opts.progress or None, leave=False,
               file=term)
    say = bar.write if opts.progress else (lambda *a, **k: None)
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    # kernels share this process's stderr: it goes to a log, shown only when a notebook fails
    with _captured_stderr() as kernel_log, ThreadPoolExecutor(max_workers=workers) as pool:
        for n, key, _ in jobs:
            say(f"[{n}/{n_all}] {key}: running {NOTEBOOKS[key]} ...", file=term)
        for line in skipped:  # after the ones that run, in their order
            say(line, file=term)
        futures = [(n, pool.submit(_execute, key, params, work)) for n, key, params in jobs]
        for n, future in futures:
            done = future.result()
            result.results.append(done)
            bar.update()
            status = f"FAILED: {done.error}" if done.error else f"{out / done.html.name} ({done.seconds:.1f} s)" \
                if done.html is not None else "no HTML"
            say(f"[{n}/{n_all}] {done.key}: {status}", file=term)
    bar.close()
    term.close()
    if opts.progress and result.failed:
        sys.stderr.write(kernel_log.read_text(errors="replace"))
    kernel_log.unlink(missing_ok=True)
    _publish(result, work)
    r = session.request
    write_index(result, session.rule_paths, session.attack.version, list(r.compare_rules), session.attack.origin)
    if result.load_errors and opts.progress:
        print(f"falco-coverage: Falco would refuse these rules: {result.load_errors} load error(s) (details: "
              f"falco-coverage rules {' '.join(session.rule_paths)})", file=sys.stderr)
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
    from ..versions import PACKAGE_VERSION as __version__

    def rel(p: str) -> str:
        return os.path.relpath(Path(p).resolve(), Path.cwd()) if Path(p).is_absolute() else p

    links = [Link(r.title, os.path.relpath(r.html, result.out_dir) if r.html is not None else None,
                  _SUMMARIES.get(r.key, ""), r.error) for r in result.results]
    layer = "coverage-layer.json" if (result.out_dir / "coverage-layer.json").exists() else None
    states = "coverage-states-layer.json" if (result.out_dir / "coverage-states-layer.json").exists() else None
    page = landing_page(Landing(
        headline=result.headline, links=links, layer=layer, states_layer=states,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
        attack=f"ATT&CK {attack_version or 'unknown version'}"
               + (f" ({Path(attack_origin).name if '/' in attack_origin else attack_origin})" if attack_origin else ""),
        rule_files=[rel(p) for p in rule_paths], compare_with=[rel(p) for p in compare_with or []],
        example=result.example, load_errors=result.load_errors, trend=result.trend))
    atomic_write(result.index, page.encode("utf-8"))
