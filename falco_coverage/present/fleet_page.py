"""The fleet page (``falco-coverage fleet``): clusters x tactics, techniques everywhere / somewhere /
nowhere, where rule sets differ, and a link to each cluster's own report. One self-contained page:
the heatmap is a table with coloured cells, so it loads nothing, prints, and stays fast with a
thousand clusters."""

from __future__ import annotations

import html
from typing import Any

from . import markup
from .landing import PAGE_CSS

#: at most this many names in a cell; the rest are counted
_NAMES = 8


def _colour(share: float | None) -> str:
    """White to blue by coverage share; grey when nothing applies."""
    if share is None:
        return "#eeeeee"
    light = int(245 - share * 150)
    return f"rgb({light},{light + 5 if light < 250 else 250},255)"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES])
    return shown + (f" and {len(names) - _NAMES} more" if len(names) > _NAMES else "")


def fleet_page(fleet: dict[str, Any], *, generated: str, version: str) -> str:
    """The page of a merged fleet (:func:`falco_coverage.analysis.summary.fleet.merge`)."""
    e = html.escape
    clusters = fleet["clusters"]
    tactics = fleet["tactics"]
    tech = fleet["techniques"]
    head = "".join(f"<th title='{e(t['name'])}'>{e(t['name'])}</th>" for t in tactics)
    rows = []
    for c in clusters:
        name = markup.link(c["report"], c["name"])
        cells = []
        for t in tactics:
            covered, applicable = c["tactics"].get(t["tactic"], [0, 0])
            share = covered / applicable if applicable else None
            label = f"{covered}/{applicable}" if applicable else "–"
            cells.append(f"<td style='background:{_colour(share)}' title='{e(c['name'])} · {e(t['name'])}: "
                         f"{label}'>{label}</td>")
        bad = " class='bad'" if c["load_errors"] or c["errors"] else ""
        rows.append(f"<tr><th>{name}</th><td>{c['coverage']:.0%}</td>{''.join(cells)}"
                    f"<td{bad}>{e(str(c['load_errors']))} / {e(str(c['errors']))} / {e(str(c['warnings']))}</td></tr>")
    somewhere = "".join(
        f"<tr><td>{e(tid)}</td><td>{e(fleet['technique_names'].get(tid, ''))}</td><td>{len(have)} of {len(clusters)}</td>"
        f"<td>{e(_names(sorted(set(c['name'] for c in clusters) - set(have))))}</td></tr>"
        for tid, have in sorted(tech["somewhere"].items(), key=lambda kv: (len(kv[1]), kv[0])))
    differ = "".join(
        f"<tr><td>{e(d['rule'])}</td><td>{len(d['clusters'])} of {len(clusters)}</td>"
        f"<td>{e(_names(d['missing_in'])) or '–'}</td><td>{d['variants']}</td></tr>" for d in fleet["rules_differ"])
    versions = ", ".join(fleet["attack_versions"])
    mixed = (f"<p class='err'>The summaries were made against different ATT&amp;CK releases ({e(versions)}); "
             "compare like with like.</p>" if len(fleet["attack_versions"]) > 1 else "")
    numbers = [(str(len(clusters)), "clusters"), (str(len(tech["everywhere"])), "techniques detected everywhere"),
               (str(len(tech["somewhere"])), "detected somewhere"), (str(len(tech["nowhere"])), "detected nowhere"),
               (str(len(fleet["rules_differ"])), "rules that differ")]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>falco-coverage: fleet ATT&amp;CK coverage</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>{PAGE_CSS}
body{{max-width:80rem;margin:2rem auto;padding:0 1rem}}
.fc-numbers{{display:flex;flex-wrap:wrap;gap:1.5rem;margin:1rem 0}}
.fc-numbers div b{{display:block;font-size:2rem}}.fc-numbers div span{{color:#555}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{padding:.2rem .5rem;border:1px solid #ddd;
font-size:.85rem;text-align:left}}
.fc-heat th{{max-width:6rem;font-weight:normal}}.fc-heat thead th{{writing-mode:vertical-rl;transform:rotate(180deg);
white-space:nowrap;height:9rem;vertical-align:bottom}}.fc-heat td{{text-align:center}}td.bad{{color:#b00020}}
.fc-scroll{{overflow-x:auto}}
</style></head>
<body><header class="fc-header"><small>{e(generated)} · falco-coverage {e(version)} · ATT&amp;CK {e(versions)}</small>
<h1>ATT&amp;CK coverage across the fleet</h1></header>
{mixed}<div class="fc-numbers">{"".join(f"<div><b>{e(v)}</b><span>{e(k)}</span></div>" for v, k in numbers)}</div>
<h2>Clusters by tactic</h2>
<p>Each cell is the techniques a cluster's rules detect out of those that apply, per tactic (darker: more).
The cluster name links to its own report; the last column counts load errors / errors / warnings (of the
tag checks and lints).</p>
<div class="fc-scroll"><table class="fc-heat"><thead><tr><th>cluster</th><th>coverage</th>{head}
<th>errors</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>
<h2>Detected somewhere, not everywhere</h2>
<p>Techniques some clusters detect and others do not: the clusters that lack them.</p>
<table><tr><th>technique</th><th>name</th><th>detected in</th><th>missing in</th></tr>{somewhere or
"<tr><td colspan=4>Every cluster detects the same techniques.</td></tr>"}</table>
<h2>Where the rule sets differ</h2>
<p>Rules not every cluster runs, or runs differently (another condition, output, priority, tags or
enabled state: the number of variants).</p>
<table><tr><th>rule</th><th>in</th><th>missing in</th><th>variants</th></tr>{differ or
"<tr><td colspan=4>Every cluster runs the same rules.</td></tr>"}</table>
<p><small>{len(tech["everywhere"])} techniques are detected by every cluster and {len(tech["nowhere"])} by none;
both lists are in <code>fleet.json</code> beside this page.</small></p>
</body></html>
"""
