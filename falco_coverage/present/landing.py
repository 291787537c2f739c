"""The report bundle's landing page (``index.html``) and the page style every report shares.

A manager should understand the landing page in ten seconds: the headline numbers, the top gaps,
links to each report and to the Navigator layer, and when, with what and on which rules it was
made. Everything is HTML-escaped; the page loads nothing (a Content-Security-Policy forbids it).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from . import markup

#: shared by the landing page and the report pages: readable widths, a header, print on A4
PAGE_CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#222;line-height:1.4}
.fc-header small{color:#555}.fc-header h1{margin:.2rem 0 .3rem}
.fc-numbers div{vertical-align:top}.err{color:#b00020}
a{color:#0b5cad}
@media print{
  @page{size:A4;margin:14mm}
  body{font-size:10pt}
  .modebar,.dt-search,.dt-buttons,.dt-paging,.dt-length,.dt-info{display:none!important}
  .js-plotly-plot,.plotly{max-width:100%!important;page-break-inside:avoid}
  table{page-break-inside:auto}tr{page-break-inside:avoid}
  a{color:#222;text-decoration:none}
}
"""


@dataclass
class Headline:
    """The numbers the landing page leads with."""

    covered: int
    applicable: int
    coverage: float
    rules: int
    load_errors: int
    tag_errors: int
    tag_warnings: int
    scope: str
    #: (technique ID, name, attack.mitre.org URL, threat groups using it)
    gaps: list[tuple[str, str, str, int]] = field(default_factory=list)
    #: techniques not detected but observable in full by the sensors in scope (None: no detection model)
    observable: int | None = None
    #: techniques not detected and observable only in part (None: no detection model)
    partly_observable: int | None = None


@dataclass
class Trend:
    """The run history of one report name (``report --history``), oldest first, and what the last run changed."""

    #: (generated, coverage share, load errors + tag errors, tag warnings) per run
    runs: list[tuple[str, float, int, int]]
    #: (technique ID, the rules that detect it now) gained since the previous run
    gained: list[tuple[str, list[str]]] = field(default_factory=list)
    #: (technique ID, the rules that detected it before) lost since the previous run
    lost: list[tuple[str, list[str]]] = field(default_factory=list)
    #: technique ID -> name, for the two lists
    names: dict[str, str] = field(default_factory=dict)


def _sparkline(values: list[float], width: int = 240, height: int = 40) -> str:
    """An inline SVG line of ``values`` (shares), from 0 to their largest, no script."""
    if len(values) < 2:
        return ""
    step = width / (len(values) - 1)
    top = max(values) or 1.0
    points = " ".join(f"{i * step:.1f},{height - 2 - v / top * (height - 4):.1f}" for i, v in enumerate(values))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="coverage over the runs"><polyline fill="none" stroke="#0b5cad" stroke-width="2" '
            f'points="{points}"/></svg>')


def trend_html(trend: Trend) -> str:
    """The landing page's history section."""
    e = html.escape
    rows = "".join(f"<tr><td>{e(g)}</td><td>{c:.0%}</td><td>{e(str(err))}</td><td>{e(str(warn))}</td></tr>"
                   for g, c, err, warn in trend.runs[-10:][::-1])

    def moved(items: list[tuple[str, list[str]]], verb: str) -> str:
        if not items:
            return f"<p>No technique {verb} since the previous run.</p>"
        return f"<p>{verb.capitalize()} since the previous run:</p><ul>" + "".join(
            f"<li>{e(tid)} {e(trend.names.get(tid, ''))} "
            f"<small>({e(', '.join(rules[:5]) + (' ...' if len(rules) > 5 else ''))})</small></li>"
            for tid, rules in items[:20]) + "</ul>"

    change = ""
    if len(trend.runs) > 1:
        delta = trend.runs[-1][1] - trend.runs[-2][1]
        change = f" ({'+' if delta >= 0 else ''}{delta * 100:.1f} points since the previous run)"
    return (f"<h2>Over time</h2><p>Coverage over the last {len(trend.runs)} run(s){e(change)}.</p>"
            f"{_sparkline([c for _, c, _, _ in trend.runs])}"
            "<table class='fc-trend'><tr><th>run</th><th>coverage</th><th>errors (load, tags, lint)</th>"
            "<th>warnings (tags, lint)</th></tr>"
            f"{rows}</table>{moved(trend.gained, 'gained')}{moved(trend.lost, 'lost')}")


@dataclass
class Link:
    title: str
    href: str | None
    note: str = ""
    error: str | None = None


@dataclass
class Landing:
    """What the landing page shows: the run's numbers, its reports and layers, and where it came from."""

    headline: Headline | None
    links: list[Link]
    generated: str
    version: str
    attack: str
    rule_files: list[str]
    compare_with: list[str] = field(default_factory=list)
    layer: str | None = None
    states_layer: str | None = None
    example: bool = False
    load_errors: int = 0
    trend: Trend | None = None


def landing_page(page: Landing) -> str:
    """``index.html`` as one self-contained page."""
    e = html.escape
    headline, links, layer, states_layer = page.headline, page.links, page.layer, page.states_layer
    generated, version, attack, trend = page.generated, page.version, page.attack, page.trend
    rule_files, compare_with, example, load_errors = page.rule_files, page.compare_with, page.example, page.load_errors
    items = []
    for link in links:
        title = markup.link(link.href, link.title)
        status = f' <span class="err">failed — {e(link.error)}</span>' if link.error else \
            (f" <small>{e(link.note)}</small>" if link.note else "")
        items.append(f"<li>{title}{status}</li>")
    if layer:
        items.append(f'<li>{markup.link(layer, "ATT&CK Navigator layer")} <small>open '
                     "https://mitre-attack.github.io/attack-navigator/ → Open Existing Layer → Upload from local, "
                     "and choose this file</small></li>")
    if states_layer:
        items.append(f'<li>{markup.link(states_layer, "Navigator layer of states")} <small>every technique coloured '
                     "detected, observable (a new rule would catch it), partly observable (the sensors see part of what it "
                     "takes) or not observable; opened the same way</small>"
                     "</li>")
    numbers = ""
    gaps = ""
    if headline is not None:
        h = headline
        cells = [(f"{h.covered} / {h.applicable}", "techniques detected"), (f"{h.coverage:.0%}", "coverage"),
                 *([(str(h.observable), "observable, not detected")] if h.observable is not None else []),
                 *([(str(h.partly_observable), "partly observable")] if h.partly_observable is not None else []),
                 (str(h.rules), "rules in scope"), (str(h.load_errors), "load errors"),
                 (str(h.tag_errors), "tag errors"), (str(h.tag_warnings), "tag warnings")]
        numbers = ('<div class="fc-numbers">' + "".join(
            f'<div class="n{" bad" if label in ("load errors", "tag errors") and value != "0" else ""}">'
            f"<b>{e(value)}</b><span>{e(label)}</span></div>" for value, label in cells)
            + f"</div><p><small>Scope: {e(h.scope)}</small></p>")
        if h.gaps:
            lead = ("Undetected techniques the sensors can observe, most used by threat groups first: where a new "
                    "rule pays off" if h.observable else "Uncovered techniques most used by threat groups")
            gaps = f"<h2>Top gaps</h2><p>{lead}:</p><ol>" + "".join(
                f'<li>{markup.link(url, tid)} {e(name)} <small>({e(str(groups))} groups)</small></li>'
                for tid, name, url, groups in h.gaps) + "</ol>"
    files = "".join(f"<li><code>{e(p)}</code></li>" for p in rule_files)
    extra = "".join(f"<li><code>{e(p)}</code></li>" for p in compare_with)
    banners = ""
    if example:
        banners += ('<p class="err"><b>Example rules:</b> no rules were given and none are installed, so these '
                    "reports show the example rule set shipped with falco-coverage, not yours.</p>")
    if load_errors:
        banners += (f'<p class="err"><b>Falco would refuse these rules:</b> {load_errors} load error(s); '
                    "see the mis-tagged rules report.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>falco-coverage: ATT&amp;CK coverage report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>{PAGE_CSS}
body{{max-width:60rem;margin:2rem auto;padding:0 1rem}}li{{margin:.3rem 0}}code{{font-size:.9em}}
.fc-numbers{{display:flex;flex-wrap:wrap;gap:1.5rem;margin:1rem 0}}
.fc-trend td,.fc-trend th{{padding:.1rem .8rem;text-align:left}}
.fc-numbers .n b{{display:block;font-size:2rem}}.fc-numbers .n span{{color:#555}}.fc-numbers .bad b{{color:#b00020}}
</style></head>
<body><header class="fc-header"><small>{e(generated)} · falco-coverage {e(version)} · {e(attack)}</small>
<h1>ATT&amp;CK coverage of Falco rules</h1></header>
{banners}{numbers}
<h2>Reports</h2><ul>{"".join(items)}</ul>
{gaps}
{trend_html(trend) if trend is not None else ""}
<h2>Rule files</h2><ul>{files}</ul>
{f"<h2>Compared with</h2><ul>{extra}</ul>" if extra else ""}
</body></html>
"""
