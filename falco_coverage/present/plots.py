"""Plotly figures of a :class:`~falco_coverage.coverage.Coverage`. Each function returns a Figure.

Colours are colour-blind safe (a single-hue sequential blue scale, Okabe-Ito-like qualitative
palette) and every figure carries the scope line. Rule names and descriptions are untrusted input:
they are HTML-escaped before they reach a label, since plotly renders a subset of HTML in text.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from ..analysis.coverage.compute import Coverage
from ..rules.decode import PRIORITIES

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: rule-count bins for the matrix: (label, lowest count, colour); 0 is grey, clearly apart
BINS = [("0", 0, "#ececec"), ("1", 1, "#c6dbef"), ("2-3", 2, "#9ecae1"), ("4-7", 4, "#6baed6"),
        ("8+", 8, "#4a98c9")]
#: the three-way view, colour-blind safe (Okabe-Ito sky blue and orange; grey for "nothing to see")
#: the state view's colours (Okabe-Ito): detected sky blue, observable orange, partly observable yellow
STATE_COLOURS = [("detected", "#56B4E9"), ("observable", "#E69F00"), ("partly observable", "#F0E442"),
                 ("not observable", "#e4e4e4")]
STATE_INDEX = {label: i for i, (label, _) in enumerate(STATE_COLOURS)}
#: fires per technique, on a log scale (one purple hue; grey: nothing fired)
FIRE_BINS = [("0", 0, "#ececec"), ("1-9", 1, "#dadaeb"), ("10-99", 10, "#bcbddc"), ("100-999", 100, "#9e9ac8"),
             ("1000+", 1000, "#756bb1")]
SAFE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]
FONT = dict(family="Helvetica, Arial, sans-serif", size=12)
#: priority is ordered: one sequential scale, darkest for the most severe
ORDERED_PRIORITY = {"Emergency": "#67000d", "Alert": "#a50f15", "Critical": "#cb181d", "Error": "#ef3b2c",
                    "Warning": "#fb6a4a", "Notice": "#fc9272", "Informational": "#fcbba1", "Debug": "#fee0d2"}


def _template() -> str:
    """The notebook's template when set up (:func:`falco_coverage.present.notebook.setup_notebook`),
    else plotly's white one."""
    import plotly.io as pio

    default = pio.templates.default
    return default if isinstance(default, str) and default.startswith("falco") else "plotly_white"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1].rstrip() + "…"


def _wrap(name: str, width: int, lines: int = 3) -> str:
    """``name`` on up to ``lines`` lines of ``width`` characters (the last one shortened if need be)."""
    parts = textwrap.wrap(name, width, break_long_words=False) or [""]
    if len(parts) > lines:
        parts = parts[: lines - 1] + [_short(" ".join(parts[lines - 1:]), width)]
    return "<br>".join(_esc(p) for p in parts)


def _bin(n: int) -> int:
    return max(i for i, (_, low, _) in enumerate(BINS) if n >= low)


def _title(text: str, cov: Coverage, note: str = "") -> dict:
    sub = _esc(cov.scope.describe()) + (f"<br>{_esc(note)}" if note else "")
    return dict(text=f"{_esc(text)}<br><sup>{sub}</sup>", x=0.01, xanchor="left", font=dict(size=16))


def _shown_tactics(cov: Coverage) -> tuple[list[str], list[str]]:
    t = cov.tactics
    return list(t.loc[t["applicable"] > 0, "tactic"]), list(t.loc[t["applicable"] == 0, "name"])


#: figures fill their container; every column of the matrix must read in a window this wide
MIN_WINDOW = 1000
#: a matrix row: the technique ID and its name on up to three lines
ROW = 54


def matrix_heatmap(cov: Coverage, *, subtechniques: bool = False, name_width: int | None = None,
                   color: str = "rules", fires: dict[str, int] | None = None) -> go.Figure:
    """The ATT&CK matrix coloured by ``color``: ``rules`` (:func:`rules_matrix`), ``state``
    (:func:`state_matrix`) or ``fires`` (:func:`fires_matrix`, with ``fires``)."""
    if color == "rules":
        return rules_matrix(cov, subtechniques=subtechniques, name_width=name_width)
    if color == "state":
        return state_matrix(cov, subtechniques=subtechniques, name_width=name_width)
    if color == "fires":
        return fires_matrix(cov, fires or {}, subtechniques=subtechniques, name_width=name_width)
    raise ValueError(f"color must be rules, state or fires, not {color!r}")


def rules_matrix(cov: Coverage, *, subtechniques: bool = False, name_width: int | None = None) -> go.Figure:
    """The ATT&CK matrix: tactics as columns in matrix order, techniques stacked, colour = rules.

    One cell per top-level technique (its hover lists the rules and the covered sub-techniques); with
    ``subtechniques=True`` each sub-technique also gets a cell under its parent."""
    def hover(c: dict) -> str:
        rules = "<br>".join("• " + _esc(r) for r in c["rules"][:12])
        more = f"<br>… and {len(c['rules']) - 12} more" if len(c["rules"]) > 12 else ""
        sub_line = ""
        if c["subs"] is not None and len(c["subs"]):
            done = c["subs"][c["subs"]["covered"]]
            sub_line = (f"<br>sub-techniques covered: {len(done)}/{len(c['subs'])}"
                        + "".join(f"<br>  {s} {_esc(n)}" for s, n in zip(done["technique_id"], done["name"])))
        return _hover_head(cov, c) + (f"<br>{rules}" if rules else "") + more + sub_line

    return _matrix(cov, _MatrixKind("ATT&CK coverage matrix", "rules", BINS, lambda c: _bin(int(c["n_rules"])), hover),
                   subtechniques, name_width)


def state_matrix(cov: Coverage, *, subtechniques: bool = False, name_width: int | None = None) -> go.Figure:
    """The matrix of the state view: detected, observable in full but not detected, partly observable,
    not observable (the hover says how observable each technique is, by which sensor and what is
    missing); needs ATT&CK's detection model."""
    if not cov.has_observability:
        raise ValueError(f"the three-way view needs ATT&CK's detection model, which ATT&CK "
                         f"{cov.scope.attack_version} does not have")
    from .notebook import needs

    obs = cov.observability
    seen = dict(zip(obs["technique_id"], obs.to_dict("records")))
    lacking = needs(cov)
    for tid, r in seen.items():
        r["missing"] = lacking.get(tid, []) if r["observable"] != "full" else []
    # the three-way view leaves the rule lists to the rules matrix: a report shows both
    kind = _MatrixKind("Detected, observable, partly observable, not observable", "", [(label, 0, colour) for label, colour in STATE_COLOURS],
                       lambda c: STATE_INDEX[str(c["state"])], lambda c: _hover_head(cov, c) + _seen_line(seen, c),
                       cov.scope.sensors_text())
    return _matrix(cov, kind, subtechniques, name_width)


def fires_matrix(cov: Coverage, fires: dict[str, int], *, subtechniques: bool = False,
                 name_width: int | None = None) -> go.Figure:
    """The matrix coloured by the alerts seen per technique (``fires``: technique ID -> fires, e.g.
    from :func:`falco_coverage.analysis.observed.observed_techniques`), on a log scale."""
    def level(c: dict) -> int:
        n_fired = fires.get(c["technique_id"], 0)
        return max(k for k, (_, low, _) in enumerate(FIRE_BINS) if n_fired >= low)

    kind = _MatrixKind("What fired", "fires", FIRE_BINS, level,
                       lambda c: _hover_head(cov, c) + f"<br>{fires.get(c['technique_id'], 0)} fire(s)")
    return _matrix(cov, kind, subtechniques, name_width)


@dataclass
class _MatrixKind:
    """What one matrix figure colours: its title, colour-bar title, bins, each cell's bin and hover."""

    title: str
    bar: str
    bins: list[tuple[str, int, str]]
    level: Callable[[dict], int]
    hover: Callable[[dict], str]
    note: str = ""


def _hover_head(cov: Coverage, c: dict) -> str:
    via = " via sub-techniques" if c["covered_via"] == "sub-technique" else ""
    return (f"<b>{c['technique_id']} {_esc(c['name'])}</b><br>{cov.tactic_names.get(c['tactic'], '')}"
            f"<br>{c['n_rules']} rule(s){via}")


def _matrix_columns(cov: Coverage, shown: list[str], subtechniques: bool) -> list[list[dict]]:
    """Per shown tactic, its cells top to bottom: top-level techniques by name (each followed by its
    sub-techniques with ``subtechniques``)."""
    tech = cov.techniques
    subs = tech[tech["parent_id"].notna()]
    columns: list[list[dict]] = []
    for tactic in shown:
        col = tech[tech["tactic"] == tactic]
        cells = []
        for rec in col[col["parent_id"].isna()].sort_values("name").to_dict("records"):
            mine = subs[(subs["tactic"] == tactic) & (subs["parent_id"] == rec["technique_id"])]
            cells.append({**rec, "sub": False, "subs": mine})
            if subtechniques:
                cells.extend({**s, "sub": True, "subs": None} for s in mine.sort_values("name").to_dict("records"))
        columns.append(cells)
    return columns


def _matrix(cov: Coverage, kind: _MatrixKind, subtechniques: bool, name_width: int | None) -> go.Figure:
    """Draw a matrix figure of ``kind``: one column per tactic with an applicable technique."""
    import plotly.graph_objects as go

    shown, hidden = _shown_tactics(cov)
    if name_width is None:  # names wrap to fit the columns of the narrowest window served (1000 px)
        name_width = max(10, min(18, int(18 * (MIN_WINDOW - 160) / max(1, len(shown)) / 112)))
    columns = _matrix_columns(cov, shown, subtechniques)
    depth = max((len(c) for c in columns), default=0)
    z: list[list[float | None]] = [[None] * len(shown) for _ in range(depth)]
    text = [[""] * len(shown) for _ in range(depth)]
    hover = [[""] * len(shown) for _ in range(depth)]
    for j, cells in enumerate(columns):
        for i, c in enumerate(cells):
            z[i][j] = kind.level(c)
            label = c["technique_id"] if not c["sub"] else "↳ ." + c["technique_id"].split(".")[1]
            label = f"<b>{label}</b>" if c["covered"] else label
            text[i][j] = f"{label}<br>{_wrap(c['name'], name_width)}"
            hover[i][j] = kind.hover(c)
    n = len(kind.bins) - 1
    colorscale = []
    for k, (_, _, colour) in enumerate(kind.bins):
        colorscale += [[k / (n + 1), colour], [(k + 1) / (n + 1), colour]]
    fig = go.Figure(go.Heatmap(
        z=z, x=[_wrap(cov.tactic_names.get(t, t), 12, lines=2) for t in shown], y=list(range(depth)), text=text,
        texttemplate="%{text}", textfont=dict(size=9, color="#111111"), hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>", colorscale=colorscale, zmin=-0.5, zmax=n + 0.5,
        xgap=2, ygap=2,
        colorbar=dict(title=dict(text=kind.bar), tickvals=list(range(n + 1)),
                      ticktext=[b[0] for b in kind.bins], thickness=12, len=min(1.0, 300 / max(300, ROW * depth))),
    ))
    note = f"not shown (nothing on these platforms): {', '.join(hidden)}" if hidden else ""
    fig.update_layout(
        template=_template(), title=_title(kind.title, cov, "; ".join(filter(None, [kind.note, note]))), font=FONT,
        height=200 + ROW * depth, autosize=True, margin=dict(l=10, r=10, t=140, b=10),
        xaxis=dict(side="top", tickangle=0, tickfont=dict(size=10), fixedrange=True),
        yaxis=dict(autorange="reversed", visible=False, fixedrange=True),
    )
    return fig


def _seen_line(seen: dict[str, dict], cell: dict) -> str:
    """Hover lines for the three-way view: how observable the technique is, and by what."""
    r = seen.get(cell["technique_id"])
    if r is None:
        return ""
    by = f" by {', '.join(r['sensors'])}" if r["sensors"] else ""
    more = f" and {len(r['missing']) - 3} more" if len(r["missing"]) > 3 else ""
    missing = f"<br>not served in full: {_esc(', '.join(r['missing'][:3]))}{more}" if r["missing"] else ""
    return (f"<br>observable: {r['observable']}{by} ({r['n_full']} of {r['n_analytics']} analytics in full, "
            f"{r['n_observed']} in part or full){missing}")


def state_bars(cov: Coverage) -> go.Figure:
    """Per tactic, top-level techniques detected, observable but not detected, partly observable and not observable."""
    import plotly.graph_objects as go

    if not cov.has_observability:
        raise ValueError(f"the three-way view needs ATT&CK's detection model, which ATT&CK "
                         f"{cov.scope.attack_version} does not have")
    t = cov.tactics[cov.tactics["applicable"] > 0]
    fig = go.Figure()
    for (label, colour), values in zip(STATE_COLOURS, (t["covered"], t["observable"], t["partly_observable"],
                                                       t["not_observable"])):
        fig.add_bar(y=t["name"], x=values, orientation="h", name=label, marker_color=colour,
                    marker_line=dict(color="#555555", width=0.5),
                    hovertemplate=f"%{{y}}: %{{x}} {label}<extra></extra>")
    fig.update_layout(
        template=_template(),
        title=_title("What a new rule could detect, per tactic", cov, cov.scope.sensors_text()), barmode="stack",
        font=FONT, height=170 + 32 * len(t), autosize=True, margin=dict(l=10, r=20, t=110, b=40),
        yaxis=dict(autorange="reversed"), xaxis=dict(title="top-level techniques", gridcolor="#eeeeee"),
        legend=dict(orientation="h", y=-0.12, traceorder="normal"),
    )
    return fig


#: the observed view: fired (Okabe-Ito bluish green), detected but silent (sky blue), observable (orange),
#: partly observable (yellow), not observable (grey)
VIEW_COLOURS = {"fired": "#009E73", "detected, silent": "#56B4E9", "observable": "#E69F00",
                "partly observable": "#F0E442", "not observable": "#e4e4e4", "not detected": "#e4e4e4"}


def view_bars(cov: Coverage, fired: pd.DataFrame) -> go.Figure:
    """Per tactic, top-level techniques by the four-way view (from
    :func:`falco_coverage.analysis.observed.observed_techniques`)."""
    import plotly.graph_objects as go

    names = [cov.tactic_names.get(t, t) for t in _shown_tactics(cov)[0]]
    counts = fired.groupby(["tactic", "view"], observed=True).size().unstack(fill_value=0)
    counts = counts.reindex([t for t in _shown_tactics(cov)[0]], fill_value=0)
    fig = go.Figure()
    for view, colour in VIEW_COLOURS.items():
        if view in counts.columns and counts[view].sum():
            fig.add_bar(y=names, x=counts[view], orientation="h", name=view, marker_color=colour,
                        marker_line=dict(color="#555555", width=0.5),
                        hovertemplate=f"%{{y}}: %{{x}} {view}<extra></extra>")
    fig.update_layout(
        template=_template(), title=_title("What fired, per tactic", cov), barmode="stack", font=FONT,
        height=170 + 32 * len(names), autosize=True, margin=dict(l=10, r=20, t=100, b=40),
        yaxis=dict(autorange="reversed"), xaxis=dict(title="top-level techniques", gridcolor="#eeeeee"),
        legend=dict(orientation="h", y=-0.12, traceorder="normal"),
    )
    return fig


def alerts_timeline(series: pd.DataFrame, tactic_order: list[str] | None = None) -> go.Figure:
    """Alerts per time bucket and tactic (from :func:`falco_coverage.analysis.observed.timeline`)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    tactics = list(dict.fromkeys([*(tactic_order or []), *sorted(series["tactic"].unique())]))
    for k, tactic in enumerate(t for t in tactics if t in set(series["tactic"])):
        part = series[series["tactic"] == tactic]
        fig.add_bar(x=part["time"], y=part["alerts"], name=_esc(tactic), marker_color=SAFE[k % len(SAFE)],
                    hovertemplate=f"{_esc(tactic)}: %{{y}} alerts<extra></extra>")
    fig.update_layout(template=_template(), title=dict(text="Alerts over time, per tactic", x=0.01, xanchor="left",
                                                       font=dict(size=16)),
                      barmode="stack", font=FONT, height=420, autosize=True, margin=dict(l=10, r=20, t=70, b=40),
                      yaxis=dict(title="alerts", gridcolor="#eeeeee"), legend=dict(orientation="h", y=-0.2))
    return fig


def tactic_bars(cov: Coverage) -> go.Figure:
    """Coverage per tactic: covered / applicable top-level techniques, with the percentage."""
    import plotly.graph_objects as go

    t = cov.tactics[cov.tactics["applicable"] > 0]
    labels = [f"{c}/{a} ({p:.0%})" for c, a, p in zip(t["covered"], t["applicable"], t["coverage"])]
    fig = go.Figure()
    fig.add_bar(y=t["name"], x=t["applicable"], orientation="h", name="applicable", marker_color="#e3e3e3",
                hovertemplate="%{y}: %{x} applicable techniques<extra></extra>")
    fig.add_bar(y=t["name"], x=t["covered"], orientation="h", name="covered", marker_color=SAFE[0],
                text=labels, textposition="outside", cliponaxis=False, customdata=t["n_rules"],
                hovertemplate="%{y}: %{text}, %{customdata} rule(s)<extra></extra>")
    fig.update_layout(
        template=_template(),
        title=_title("Techniques covered per tactic", cov), barmode="overlay", font=FONT,
        height=160 + 32 * len(t), autosize=True, margin=dict(l=10, r=40, t=100, b=40),
        yaxis=dict(autorange="reversed"), xaxis=dict(title="top-level techniques", gridcolor="#eeeeee"),
        legend=dict(orientation="h", y=-0.12),
    )
    return fig


_ORDERS = {
    "maturity": ["stable", "incubating", "sandbox", "deprecated", "none"],
    "priority": PRIORITIES[::-1],
}


def breakdown(cov: Coverage, by: str = "maturity") -> go.Figure:
    """Rules per tactic, split by a rule attribute: ``maturity``, ``priority``, ``source`` or ``origin``
    (own or base rules, when some files were loaded as the base)."""
    import plotly.graph_objects as go

    if by not in ("maturity", "priority", "source", "origin"):
        raise ValueError(f"by must be maturity, priority, source or origin, not {by!r}")
    shown, _ = _shown_tactics(cov)
    rt = cov.rule_tactics
    counts = rt.groupby(["tactic", by], observed=True).size().unstack(fill_value=0) if len(rt) else pd.DataFrame()
    counts = counts.reindex(shown, fill_value=0)
    values = [v for v in _ORDERS.get(by, []) if v in counts.columns] + sorted(
        v for v in counts.columns if v not in _ORDERS.get(by, []))
    names = [cov.tactic_names.get(t, t) for t in shown]
    fig = go.Figure()
    for k, v in enumerate(values):
        colour = ORDERED_PRIORITY.get(str(v), "#999999") if by == "priority" else SAFE[k % len(SAFE)]
        fig.add_bar(y=names, x=counts[v] if v in counts else [0] * len(shown), orientation="h", name=_esc(v),
                    marker_color=colour, hovertemplate=f"%{{y}}: %{{x}} {_esc(v)} rule(s)<extra></extra>")
    fig.update_layout(
        template=_template(),
        title=_title(f"Rules per tactic by {by}", cov), barmode="stack", font=FONT,
        height=160 + 32 * len(shown), autosize=True, margin=dict(l=10, r=20, t=100, b=40),
        yaxis=dict(autorange="reversed"), xaxis=dict(title="rules", gridcolor="#eeeeee"),
        legend=dict(title=by, orientation="h", y=-0.12, traceorder="normal"),
    )
    return fig


def gaps_table(cov: Coverage, top: int = 25) -> go.Figure:
    """The most-used techniques no rule covers (by threat groups, then software)."""
    import plotly.graph_objects as go

    g = cov.gaps.head(top)
    tactics = [", ".join(cov.tactic_names.get(t, t) for t in ts) for ts in g["tactics"]]
    fig = go.Figure(go.Table(
        columnwidth=[70, 260, 220, 60, 70, 60],
        header=dict(values=["ID", "Technique", "Tactics", "Groups", "Software", "Sub-tech."],
                    fill_color="#dbe9f6", align="left", font=dict(size=12)),
        cells=dict(values=[g["technique_id"], [_esc(n) for n in g["name"]], tactics, g["n_groups"],
                           g["n_software"], g["n_subtechniques"]], align="left", height=24,
                   fill_color=[["white", "#f7f7f7"] * (len(g) // 2 + 1)]),
    ))
    fig.update_layout(template=_template(), title=_title(f"Top {len(g)} uncovered techniques by threat-group use", cov),
                      font=FONT,
                      height=140 + 26 * (len(g) + 1), width=900, margin=dict(l=10, r=10, t=100, b=10))
    return fig


def change_bars(changes: pd.DataFrame, title: str = "Covered techniques per tactic") -> go.Figure:
    """Before/after covered techniques per tactic, from :func:`falco_coverage.compare.tactic_change`."""
    import plotly.graph_objects as go

    c = changes[(changes["applicable_before"] > 0) | (changes["applicable_after"] > 0)]
    fig = go.Figure()
    fig.add_bar(y=c["name"], x=c["covered_before"], orientation="h", name="before", marker_color="#9ecae1",
                hovertemplate="%{y}: %{x} covered before<extra></extra>")
    fig.add_bar(y=c["name"], x=c["covered_after"], orientation="h", name="after", marker_color=SAFE[0],
                text=[f"{d:+d}" if d else "" for d in c["delta"]], textposition="outside", cliponaxis=False,
                hovertemplate="%{y}: %{x} covered after<extra></extra>")
    fig.update_layout(
        template=_template(),
        title=dict(text=_esc(title), x=0.01, xanchor="left", font=dict(size=16)), barmode="group", font=FONT,
        height=160 + 40 * len(c), autosize=True, margin=dict(l=10, r=40, t=70, b=40),
        yaxis=dict(autorange="reversed"), xaxis=dict(title="covered top-level techniques", gridcolor="#eeeeee"),
        legend=dict(orientation="h", y=-0.1, traceorder="normal"),
    )
    return fig


def moves_bars(moves: pd.DataFrame) -> go.Figure:
    """Where each retired tactic's techniques went, from :func:`falco_coverage.analysis.coverage.compare.tactic_moves`."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for k, (tactic, part) in enumerate(moves.groupby("retired_tactic", sort=False)):
        fig.add_bar(y=[_esc(d) for d in part["destination"]], x=part["n_techniques"], orientation="h",
                    name=_esc(tactic), marker_color=SAFE[k % len(SAFE)], text=part["n_techniques"],
                    textposition="outside", cliponaxis=False,
                    hovertemplate=f"{_esc(tactic)} -> %{{y}}: %{{x}} techniques<extra></extra>")
    fig.update_layout(
        template=_template(),
        title=dict(text="Where the techniques of retired tactics went", x=0.01, xanchor="left", font=dict(size=16)),
        font=FONT, height=160 + 40 * max(1, len(moves)), autosize=True,
        margin=dict(l=10, r=40, t=70, b=40), yaxis=dict(autorange="reversed"),
        xaxis=dict(title="techniques", gridcolor="#eeeeee"), legend=dict(orientation="h", y=-0.15),
    )
    return fig
