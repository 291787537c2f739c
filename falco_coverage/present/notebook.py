"""Notebook display set-up: figures interactive in JupyterLab and embedded in exported HTML."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..analysis.coverage import Coverage
from ..findings import Location
from ..rules import RuleSet

_CDN_SCRIPT = re.compile(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>')


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
        pio.renderers["falco_offline"] = OfflineNotebookRenderer(connected=False)
    return "falco_offline"


def setup_notebook() -> None:
    """Notebook display settings: figures interactive in JupyterLab and embedded in exported HTML.

    With plotly 6+ the default renderer writes only a JSON mime bundle, which nbconvert drops; the
    notebook renderer adds HTML with plotly.js embedded once per notebook (and, ours, nothing from a CDN).
    """
    import pandas as pd
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+" + _register_offline_renderer()
    pd.set_option("display.max_colwidth", 200)
    pd.set_option("display.max_rows", 500)


def where(findings: pd.DataFrame) -> pd.DataFrame:
    """``findings`` with a ``where`` column: ``file:line[:column]`` of each finding, for display."""
    locs = [str(Location(f, int(ln) if pd.notna(ln) else 0, int(c) if pd.notna(c) else None))
            for f, ln, c in zip(findings["file"], findings["line"], findings["column"])]
    return findings.assign(where=pd.Series(locs, index=findings.index, dtype=object))


def print_notes(ruleset: RuleSet, cov: Coverage | None, example_rules: bool) -> None:
    """What a reader must know before the figures: example rules, rules Falco would refuse, scope notes."""
    if example_rules:
        print("EXAMPLE RULES: no rules were given and none are installed; this report shows the example rule set "
              "shipped with falco-coverage, not yours.")
    errors = ruleset.own_errors
    if len(errors):
        print(f"Falco would refuse these rules: {len(errors)} load error(s); "
              f"{len(ruleset.rejected_rules)} rule(s) invalid or dropped (see the rule-loading diagnostics).")
    for note in cov.scope.notes if cov is not None else ():
        print(f"Note: {note}")
