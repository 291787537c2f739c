"""ATT&CK Navigator layers (format 4.5) of a coverage, built with mitreattack-python's navlayers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..analysis.coverage import Coverage
from ..fsutil import atomic_write

GRADIENT = ["#ffffff", "#9ecae1", "#08519c"]
_NAV_PLATFORMS = {  # ATT&CK platform names -> Navigator filter names where they differ
    "Identity Provider": "Identity Provider", "Office Suite": "Office Suite",
}


#: the three-way view's cell colours (the same as the report's matrix)
STATE_COLOURS = {"detected": "#56B4E9", "observable": "#E69F00", "not observable": "#e4e4e4"}


def to_navigator(cov: Coverage, name: str, path: str | Path | None = None, *,
                 description: str | None = None, states: bool = False) -> dict[str, Any]:
    """A Navigator layer: score = number of rules, comment and metadata = rule names, links to
    attack.mitre.org, a gradient and legend, ATT&CK version and platform filter from the scope.
    With ``states`` every applicable technique gets a cell coloured by its three-way state (detected,
    observable but not detected, not observable), with the state, sensors and detection strategy in
    its metadata. Written as UTF-8 JSON to ``path`` when given; the dict is returned either way."""
    from mitreattack.navlayers import Layer
    from mitreattack.navlayers.core.filter import Filter
    from mitreattack.navlayers.core.gradient import Gradient
    from mitreattack.navlayers.core.layout import Layout
    from mitreattack.navlayers.core.legenditem import LegendItem
    from mitreattack.navlayers.core.metadata import Metadata
    from mitreattack.navlayers.core.objlink import Link
    from mitreattack.navlayers.core.technique import Technique
    from mitreattack.navlayers.core.versions import Versions

    layer = Layer(name=name, domain=cov.scope.domain)
    obj = layer.layer
    obj.description = description or f"Falco rules coverage. {cov.scope.describe()}"
    versions = Versions(layer="4.5", navigator="5.0.0")
    if cov.scope.attack_version:
        versions.attack = cov.scope.attack_version.split(".")[0]
    obj.versions = versions
    flt = Filter(cov.scope.domain)
    if cov.scope.platforms:  # navlayers rejects an empty list; no filter then
        flt.platforms = [_NAV_PLATFORMS.get(p, p) for p in cov.scope.platforms]
    obj.filters = flt
    # navlayers' Gradient cannot interpolate 3 colours over a range below 3 (it raises), hence the floor
    top = max(int(cov.techniques["n_rules"].max()) if len(cov.techniques) else 0, len(GRADIENT))
    obj.gradient = Gradient(colors=GRADIENT, minValue=0, maxValue=top)
    # short labels: the SVG exporter lays the legend out in a narrow box
    obj.legendItems = [LegendItem("no rule", GRADIENT[0]), LegendItem("1 rule", GRADIENT[1]),
                       LegendItem(f"{top} rules", GRADIENT[2])]
    layout = Layout()
    layout.showID = True
    obj.layout = layout
    obj.metadata = [Metadata("generator", "falco-coverage"), Metadata("scope", cov.scope.describe())]
    if states:
        if not cov.has_observability:
            from ..errors import FalcoCoverageError

            raise FalcoCoverageError(f"a layer of states needs ATT&CK's detection model, which ATT&CK "
                                     f"{cov.scope.attack_version} does not have (use 18.0 or later)")
        obj.legendItems = [LegendItem("detected", STATE_COLOURS["detected"]),
                           LegendItem("observable", STATE_COLOURS["observable"]),
                           LegendItem("not observable", STATE_COLOURS["not observable"])]
        obj.metadata.append(Metadata("sensors", ", ".join(cov.scope.sensors) or "none"))
    seen = dict(zip(cov.observability["technique_id"], cov.observability.to_dict("records"))) if states else {}
    techniques = []
    shown = cov.techniques if states else cov.techniques[cov.techniques["covered"]]
    parents_with_subs = set(shown.loc[shown["covered"], "parent_id"].dropna())
    for rec in shown.to_dict("records"):
        t = Technique(rec["technique_id"])
        t.tactic = str(rec["tactic"])
        t.score = int(rec["n_rules"])
        t.comment = "; ".join(rec["rules"])
        t.enabled = True
        t.metadata = [Metadata("rule", r) for r in rec["rules"]]
        url = "https://attack.mitre.org/techniques/" + rec["technique_id"].replace(".", "/")
        t.links = [Link(f"{rec['technique_id']} on attack.mitre.org", url)] if rec["covered"] or not states else []
        t.showSubtechniques = rec["technique_id"] in parents_with_subs
        if states:
            t.color = STATE_COLOURS[str(rec["state"])]
            t.metadata = [Metadata("state", str(rec["state"])), *t.metadata]
            obs = seen.get(rec["technique_id"])
            if obs is not None:
                t.metadata.append(Metadata("observable", f"{obs['observable']} ({', '.join(obs['sensors']) or 'no sensor'})"))
                for det in obs["strategy_ids"]:
                    t.links.append(Link(f"{det} on attack.mitre.org", f"https://attack.mitre.org/detectionstrategies/{det}"))
            if not rec["covered"]:
                t.comment = str(rec["state"])
        techniques.append(t)
    obj.techniques = techniques
    data = layer.to_dict()
    data.setdefault("techniques", [])  # navlayers leaves the key out when nothing is covered
    if path is not None:
        # a layer of states has a cell per applicable technique: compact, it is a third of the size
        atomic_write(Path(path), json.dumps(data, indent=None if states else 1, ensure_ascii=False,
                                            separators=(",", ":") if states else None).encode("utf-8"))
    return data


def export(layer: dict[str, Any], attack_path: str | Path, *, svg: str | Path | None = None,
           xlsx: str | Path | None = None, domain: str = "enterprise-attack") -> None:
    """Render ``layer`` with mitreattack-python's offline exporters (ToSvg, ToExcel) from a local bundle.

    They build their own MitreAttackData from ``attack_path`` (several seconds) and print notes on
    stdout, which are swallowed here.
    """
    import contextlib
    import io

    from mitreattack.navlayers import Layer, SVGConfig, ToExcel, ToSvg

    from tqdm.auto import tqdm

    short = domain.removesuffix("-attack")
    nav = Layer(init_data=layer)
    steps = [name for name, wanted in (("SVG", svg), ("Excel", xlsx)) if wanted is not None]
    with tqdm(total=len(steps), desc="layer export", unit="file", disable=None, leave=False) as bar, \
            contextlib.redirect_stdout(io.StringIO()):
        if svg is not None:
            bar.set_postfix_str("SVG (loads ATT&CK again: several seconds)")
            ToSvg(domain=short, source="local", resource=str(attack_path), config=SVGConfig()).to_svg(
                layerInit=nav, filepath=str(svg))
            bar.update()
        if xlsx is not None:
            bar.set_postfix_str("Excel")
            ToExcel(domain=short, source="local", resource=str(attack_path)).to_xlsx(layerInit=nav, filepath=str(xlsx))
            bar.update()
