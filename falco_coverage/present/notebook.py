"""How the notebooks show things: one place for figures, tables, headers, notes and errors.

- :func:`setup_notebook` picks the figure renderer by context: in JupyterLab the plotly mime type
  only (a saved notebook stays small); in a report run (``FALCO_COVERAGE_REPORT=1``, set by
  ``falco-coverage report``) HTML with plotly.js embedded, nothing fetched from a CDN. Figures never
  offer the plotly logo, a cloud "Share chart" upload or an edit link. It changes no pandas option.
- :func:`table` shows a frame for people: no index, "—" for missing values, percentages, yes/no,
  paths relative to the rule set, technique IDs linked to attack.mitre.org, "None found." when empty;
  interactive (sort, search, CSV) through itables, which works offline in exported HTML.
- :func:`header` puts the title, date, tool version, ATT&CK release, scope and rule files on top.
- User errors (a bad parameter) show as one titled line with what to change, not a traceback.
"""

from __future__ import annotations

import html
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.coverage.compute import Coverage
from ..attack import AttackData
from ..errors import FalcoCoverageError
from ..findings import Location
from ..rules import RuleSet

#: the environment variable ``falco-coverage report`` sets for the notebooks it runs
REPORT_ENV = "FALCO_COVERAGE_REPORT"
#: every figure: no logo, no upload to a plotly server, no edit link; fits its container
PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False, "showSendToCloud": False,
                                 "plotlyServerURL": "", "responsive": True,
                                 "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d"]}
MISSING = "—"
_DATATABLES_LOADED = False  # this kernel has shown the DataTables bundle
_CDN_SCRIPT = re.compile(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>')
_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_TACTIC = re.compile(r"^TA\d{4}$")
_STRATEGY = re.compile(r"DET\d{4,}")
_ABSOLUTE = re.compile(r"(?<![\w.])/[^\s,;()]+")


def in_report() -> bool:
    """Whether this notebook runs headless for ``falco-coverage report``."""
    return os.environ.get(REPORT_ENV) == "1"


def _register_offline_renderer() -> str:
    """Register plotly's notebook renderer minus the MathJax CDN tag it hard-codes in every figure."""
    import plotly.io as pio
    from plotly.io._base_renderers import NotebookRenderer  # no public hook for include_mathjax

    class OfflineNotebookRenderer(NotebookRenderer):
        def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
            bundle = super().to_mimebundle(fig_dict)
            bundle["text/html"] = _CDN_SCRIPT.sub("", bundle["text/html"])
            return bundle

    if "falco_offline" not in pio.renderers:
        pio.renderers["falco_offline"] = OfflineNotebookRenderer(connected=False, config=PLOTLY_CONFIG)
    return "falco_offline"


def _register_templates() -> None:
    """``falco``: white, for reports and print; ``falco_adaptive``: transparent backgrounds and
    mid-grey text and grid that read on JupyterLab's light and dark themes alike."""
    import plotly.graph_objects as go
    import plotly.io as pio

    if "falco" in pio.templates:
        return
    pio.templates["falco"] = pio.templates["plotly_white"]
    grey = "#8a8a8a"
    axis = dict(gridcolor="rgba(128,128,128,0.25)", linecolor=grey, tickfont=dict(color=grey),
                title=dict(font=dict(color=grey)))
    adaptive = go.layout.Template(pio.templates["plotly_white"])
    adaptive.layout.update(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                           font=dict(color=grey), xaxis=axis, yaxis=axis, legend=dict(font=dict(color=grey)),
                           title=dict(font=dict(color=grey)))
    pio.templates["falco_adaptive"] = adaptive


def setup_notebook() -> None:
    """Figures, tables and errors as described in this module's docstring (call once, first)."""
    import plotly.io as pio

    _register_templates()
    pio.templates.default = "falco" if in_report() else "falco_adaptive"
    pio.renderers["plotly_mimetype"].config = PLOTLY_CONFIG
    if in_report():
        pio.renderers.default = "plotly_mimetype+" + _register_offline_renderer()
    else:
        pio.renderers.default = "plotly_mimetype"
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to set up for display
        return
    ip = get_ipython()
    if ip is None:
        return
    global _DATATABLES_LOADED
    if in_report() and not _DATATABLES_LOADED:  # DataTables once per report page; Lab tables stay static
        from itables import init_notebook_mode

        init_notebook_mode(all_interactive=False, connected=False)
        _DATATABLES_LOADED = True
    html_formatter = ip.display_formatter.formatters["text/html"]
    html_formatter.for_type(Coverage, coverage_html)
    html_formatter.for_type(RuleSet, ruleset_html)
    html_formatter.for_type(AttackData, attack_html)
    if not in_report():  # a report must still fail loudly, so the runner can name the notebook
        ip.set_custom_exc((FalcoCoverageError,), _show_user_error)


def _show_user_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
    """IPython's handler for user errors: the box instead of a traceback (the cell still fails, so
    "Run all" stops there)."""
    from IPython.display import HTML, display

    display(HTML(error_html(value)))
    return []


def error_html(exc: BaseException) -> str:
    """A user error as a title, the one-line reason and what to change in the parameters cell."""
    return (f'<div class="fc-error" style="border-left:4px solid #b00020;padding:.4rem .8rem">'
            f"<b>falco-coverage could not run this notebook</b><br>{html.escape(str(exc))}<br>"
            "<small>Change the value in the <code>parameters</code> cell (first code cell) and run again: "
            "<code>rules</code>, <code>attack</code> / <code>attack_version</code>, <code>config</code>."
            "</small></div>")


def coverage_html(cov: Coverage) -> str:
    s = cov.summary()
    return (f"<b>Coverage</b>: {s['covered']} of {s['applicable']} techniques ({s['coverage']:.0%}) "
            f"by {s['rules']} rules<br><small>{html.escape(cov.scope.describe())}</small>")


def ruleset_html(rs: RuleSet) -> str:
    errors = len(rs.errors)
    return (f"<b>Rules</b>: {len(rs.rules)} rules, {len(rs.macros)} macros, {len(rs.lists)} lists from "
            f"{len(rs.files)} file(s); {errors} load error(s), "
            f"{int((rs.diagnostics['severity'] == 'warning').sum())} warning(s)")


def attack_html(attack: AttackData) -> str:
    return f"<b>ATT&amp;CK</b>: {html.escape(attack.describe())}"


# --- tables --------------------------------------------------------------------------------------
def technique_url(technique_id: str) -> str:
    return "https://attack.mitre.org/techniques/" + technique_id.replace(".", "/") + "/"


def rules_root(ruleset: RuleSet) -> Path | None:
    """The directory the rule files share: paths in tables are shown relative to it."""
    files = [Path(f).resolve() for f in ruleset.files["file"]]
    if not files:
        return None
    return Path(os.path.commonpath([f.parent for f in files]))


def _cell(value: Any, column: str, root: Path | None, percent: bool, links: bool) -> str:
    if isinstance(value, (list, tuple)):  # evidence items are sentences with commas of their own
        sep = "; " if column == "evidence" else ", "
        return sep.join(_cell(v, column, root, False, links) for v in value) or MISSING
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if percent and isinstance(value, float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    if root is not None and column in ("file", "where") and text.startswith("/"):
        try:
            text = str(Path(text).resolve().relative_to(root)) if column == "file" else \
                str(Path(text).relative_to(root))
        except ValueError:
            text = os.path.relpath(text, root)
    if links and _TECHNIQUE.fullmatch(text):
        return f'<a href="{technique_url(text)}" target="_blank" rel="noopener">{text}</a>'
    if links and _STRATEGY.fullmatch(text):
        return f'<a href="https://attack.mitre.org/detectionstrategies/{text}/" target="_blank" rel="noopener">{text}</a>'
    if links and _TACTIC.fullmatch(text):
        return f'<a href="https://attack.mitre.org/tactics/{text}/" target="_blank" rel="noopener">{text}</a>'
    return html.escape(text)


def format_frame(df: pd.DataFrame, *, root: Path | None = None, percent: tuple[str, ...] = (),
                 links: bool = True, titles: dict[str, str] | None = None) -> pd.DataFrame:
    """``df`` as text cells for people (HTML-escaped; technique IDs as links): see :func:`table`."""
    out = pd.DataFrame(index=range(len(df)))
    for col in df.columns:
        values = df[col].tolist()
        out[(titles or {}).get(col, str(col).replace("_", " "))] = [
            _cell(v, str(col), root, col in percent, links) for v in values]
    return out


def table(df: pd.DataFrame, *, empty: str = "None found.", root: Path | None = None,
          percent: tuple[str, ...] = (), titles: dict[str, str] | None = None, page: int = 25,
          interactive: bool | None = None) -> None:
    """Show ``df`` for people (see :func:`format_frame`), or the ``empty`` sentence.

    Interactive (sort, search, CSV export; offline) in reports, or with ``interactive=True``; in
    JupyterLab a static table by default, so a saved notebook does not carry the DataTables bundle.
    """
    from IPython.display import HTML, display

    if df.empty:
        display(HTML(f'<p class="fc-empty"><i>{html.escape(empty)}</i></p>'))
        return
    shown = format_frame(df, root=root, percent=percent, titles=titles)
    if not (in_report() if interactive is None else interactive):
        display(HTML(shown.to_html(index=False, escape=False, border=0, classes="fc-table")))
        return
    from itables import init_notebook_mode, show

    global _DATATABLES_LOADED
    if interactive and not _DATATABLES_LOADED:  # the DataTables bundle (700 KB) once per notebook
        init_notebook_mode(all_interactive=False, connected=False)
        _DATATABLES_LOADED = True
    show(shown, allow_html=True, showIndex=False, pageLength=page, lengthMenu=[page, 100, 1000],
         buttons=["csvHtml5"] if len(shown) > 5 else [], classes="display compact", maxBytes=0,
         columnDefs=[{"className": "dt-left", "targets": "_all"}],
         layout={"topStart": "search", "topEnd": "buttons" if len(shown) > 5 else None})


def numbers(items: dict[str, str]) -> None:
    """Headline numbers as a row of labelled figures."""
    from IPython.display import HTML, display

    cells = "".join(f'<div style="display:inline-block;margin:0 2rem .5rem 0"><div style="font-size:1.8em">'
                    f"{html.escape(v)}</div><div style=\"color:#555\">{html.escape(k)}</div></div>"
                    for k, v in items.items())
    display(HTML(f'<div class="fc-numbers">{cells}</div>'))


def header(title: str, ruleset: RuleSet, attack: AttackData | None = None, cov: Coverage | None = None) -> None:
    """The page header under the notebook's title: link back to the index (in a report), date, tool
    version, ATT&CK release, rule files and scope."""
    from IPython.display import HTML, display

    from ..versions import PACKAGE_VERSION as __version__

    root = rules_root(ruleset)
    files = [_cell(f, "file", root, False, False) for f in ruleset.files["file"]]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = [now, f"falco-coverage {__version__}"]
    if attack is not None:
        meta.append(html.escape(_ABSOLUTE.sub(lambda m: Path(m.group(0)).name, attack.describe())))
    back = '<a href="index.html">← all reports</a> · ' if in_report() else ""
    scope = f"<br>Scope: {html.escape(cov.scope.describe())}" if cov is not None else ""
    display(HTML(f'<header class="fc-header" aria-label="{html.escape(title)}"><small>{back}{" · ".join(meta)}'
                 f"<br>Rule files: {', '.join(files) or MISSING}{scope}</small></header>"))


def needs(cov: Coverage) -> dict[str, list[str]]:
    """Per technique, the log sources (or data components) of its references not served in full."""
    refs = cov.references
    if refs.empty:
        return {}
    short = refs[refs["grade"] != "full"]
    what = short["log_source"].where(short["log_source"].notna(), short["data_component"])
    return {tid: sorted({str(w) for w in ws if isinstance(w, str)})
            for tid, ws in what.groupby(short["technique_id"]).agg(list).items()}


def observable_gaps(cov: Coverage, observable: bool = True) -> pd.DataFrame:
    """The gaps a new rule could close (not detected, observable by the sensors in scope), most used
    first; with ``observable=False`` the others, with the data components another sensor would need."""
    cols = ["technique_id", "name", "tactics"] + (
        ["observable", "strategy_ids", "n_groups", "data_components", "sensors"] if observable
        else ["strategy_ids", "n_groups", "missing"])
    if not cov.has_observability:
        return pd.DataFrame(columns=cols)
    seen = cov.gaps["observable"].isin(["partial", "full"])
    g = cov.gaps[seen if observable else ~seen]
    obs = cov.observability.set_index("technique_id")
    extra = {c: g["technique_id"].map(obs[c]) for c in cols if c in ("data_components", "sensors")}
    if "missing" in cols:  # what another sensor would have to read: the logs, not ATT&CK's channel sentences
        extra["missing"] = g["technique_id"].map(needs(cov)).map(lambda v: v if isinstance(v, list) else [])
    return g.assign(**extra, tactics=g["tactics"].map(lambda ts: [cov.tactic_names.get(t, t) for t in ts]),
                    observable=g["observable"].astype(str))[cols].reset_index(drop=True)


def where(findings: pd.DataFrame) -> pd.DataFrame:
    """``findings`` with a ``where`` column: ``file:line[:column]`` of each finding, for display."""
    locs = [str(Location(f, int(ln) if pd.notna(ln) else 0, int(c) if pd.notna(c) else None))
            for f, ln, c in zip(findings["file"], findings["line"], findings["column"])]
    return findings.assign(where=pd.Series(locs, index=findings.index, dtype=object))


def notes(ruleset: RuleSet, cov: Coverage | None, example_rules: bool) -> list[str]:
    """What a reader must know before the figures: example rules, rules Falco would refuse, scope notes."""
    out = []
    if example_rules:
        out.append("EXAMPLE RULES: no rules were given and none are installed; this report shows the example rule "
                   "set shipped with falco-coverage, not yours.")
    errors = ruleset.own_errors
    if len(errors):
        out.append(f"Falco would refuse these rules: {len(errors)} load error(s); {len(ruleset.rejected_rules)} "
                   "rule(s) invalid or dropped (see the rule-loading diagnostics).")
    out.extend(f"Note: {n}" for n in (cov.scope.notes if cov is not None else ()))
    return out


def print_notes(ruleset: RuleSet, cov: Coverage | None, example_rules: bool) -> None:
    """Show :func:`notes` (as a highlighted box in a notebook, as lines elsewhere)."""
    found = notes(ruleset, cov, example_rules)
    if not found:
        return
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        display(HTML('<div class="fc-notes" style="background:#fff4e5;padding:.4rem .8rem">'
                     + "<br>".join(html.escape(n) for n in found) + "</div>"))
    else:
        print("\n".join(found))
