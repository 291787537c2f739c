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


def to_navigator(cov: Coverage, name: str, path: str | Path | None = None, *,
                 description: str | None = None) -> dict[str, Any]:
    """A Navigator layer: score = number of rules, comment and metadata = rule names, links to
    attack.mitre.org, a gradient and legend, ATT&CK version and platform filter from the scope.
    Written as UTF-8 JSON to ``path`` when given; the dict is returned either way."""
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
    techniques = []
    covered = cov.techniques[cov.techniques["covered"]]
    parents_with_subs = set(covered["parent_id"].dropna())
    for rec in covered.to_dict("records"):
        t = Technique(rec["technique_id"])
        t.tactic = str(rec["tactic"])
        t.score = int(rec["n_rules"])
        t.comment = "; ".join(rec["rules"])
        t.enabled = True
        t.metadata = [Metadata("rule", r) for r in rec["rules"]]
        url = "https://attack.mitre.org/techniques/" + rec["technique_id"].replace(".", "/")
        t.links = [Link(f"{rec['technique_id']} on attack.mitre.org", url)]
        t.showSubtechniques = rec["technique_id"] in parents_with_subs
        techniques.append(t)
    obj.techniques = techniques
    data = layer.to_dict()
    data.setdefault("techniques", [])  # navlayers leaves the key out when nothing is covered
    if path is not None:
        atomic_write(Path(path), json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
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
