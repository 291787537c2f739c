"""ATT&CK Navigator layers (format 4.5) of a coverage, and their SVG/Excel renderings (the ``layers`` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..analysis.coverage.compute import Coverage
from ..attack import AttackData
from ..fsutil import atomic_write

GRADIENT = ["#ffffff", "#9ecae1", "#08519c"]
_NAV_PLATFORMS = {  # ATT&CK platform names -> Navigator filter names where they differ
    "Identity Provider": "Identity Provider", "Office Suite": "Office Suite",
}


#: the state view's cell colours (the same as the report's matrix)
STATE_COLOURS = {"detected": "#56B4E9", "observable": "#E69F00", "partly observable": "#F0E442",
                 "not observable": "#e4e4e4"}


def _meta(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


def _link(label: str, url: str) -> dict[str, str]:
    return {"label": label, "url": url}


def to_navigator(cov: Coverage, name: str, path: str | Path | None = None, *,
                 description: str | None = None, states: bool = False) -> dict[str, Any]:
    """A Navigator layer: score = number of rules, comment and metadata = rule names, links to
    attack.mitre.org, a gradient and legend, ATT&CK version and platform filter from the scope.
    With ``states`` every applicable technique gets a cell coloured by its state (detected, observable
    in full but not detected, partly observable, not observable), with the state, sensors, detection
    strategy and what is missing in its metadata. Written as UTF-8 JSON to ``path`` when given; the dict is returned either way.

    The layer is plain JSON in the Navigator's layer format 4.5 (the same dict mitreattack-python's
    ``Layer`` writes, which a test holds it to), so no extra is needed to write it."""
    if states and not cov.has_observability:
        from ..errors import FalcoCoverageError

        raise FalcoCoverageError(f"a layer of states needs ATT&CK's detection model, which ATT&CK "
                                 f"{cov.scope.attack_version} does not have (use 18.0 or later)")
    versions = {"layer": "4.5", "navigator": "5.0.0"}
    if cov.scope.attack_version:
        versions["attack"] = cov.scope.attack_version.split(".")[0]
    # the Navigator's gradient interpolates 3 colours: a range below 3 would not show them, hence the floor
    top = max(int(cov.techniques["n_rules"].max()) if len(cov.techniques) else 0, len(GRADIENT))
    if states:
        legend = [{"label": state, "color": colour} for state, colour in STATE_COLOURS.items()]
    else:  # short labels: the SVG exporter lays the legend out in a narrow box
        legend = [{"label": "no rule", "color": GRADIENT[0]}, {"label": "1 rule", "color": GRADIENT[1]},
                  {"label": f"{top} rules", "color": GRADIENT[2]}]
    metadata = [_meta("generator", "falco-coverage"), _meta("scope", cov.scope.describe())]
    if states:
        metadata.append(_meta("sensors", ", ".join(cov.scope.sensors) or "none"))
    data: dict[str, Any] = {
        "name": name, "versions": versions, "domain": cov.scope.domain,
        "description": description or f"Falco rules coverage. {cov.scope.describe()}",
        "filters": {"platforms": [_NAV_PLATFORMS.get(p, p) for p in cov.scope.platforms]},
        "layout": {"aggregateFunction": "average", "showID": True},
        "techniques": _techniques(cov, states),
        "gradient": {"colors": GRADIENT, "minValue": 0, "maxValue": top},
        "legendItems": legend, "metadata": metadata,
    }
    if not cov.scope.platforms:  # an empty filter hides every technique in the Navigator: none then
        del data["filters"]
    if path is not None:
        # a layer of states has a cell per applicable technique: compact, it is a third of the size
        atomic_write(Path(path), json.dumps(data, indent=None if states else 1, ensure_ascii=False,
                                            separators=(",", ":") if states else None).encode("utf-8"))
    return data


def _techniques(cov: Coverage, states: bool) -> list[dict[str, Any]]:
    """The layer's technique cells: every applicable one with ``states``, else the covered ones."""
    seen = dict(zip(cov.observability["technique_id"], cov.observability.to_dict("records"))) if states else {}
    shown = cov.techniques if states else cov.techniques[cov.techniques["covered"]]
    parents_with_subs = set(shown.loc[shown["covered"], "parent_id"].dropna())
    out = []
    for rec in shown.to_dict("records"):
        tid = rec["technique_id"]
        url = "https://attack.mitre.org/techniques/" + tid.replace(".", "/")
        cell: dict[str, Any] = {
            "techniqueID": tid, "tactic": str(rec["tactic"]), "comment": "; ".join(rec["rules"]),
            "enabled": True, "score": int(rec["n_rules"]),
            "metadata": [_meta("rule", r) for r in rec["rules"]],
            "links": [_link(f"{tid} on attack.mitre.org", url)] if rec["covered"] or not states else [],
            "showSubtechniques": tid in parents_with_subs,
        }
        if states:
            cell["color"] = STATE_COLOURS[str(rec["state"])]
            cell["metadata"].insert(0, _meta("state", str(rec["state"])))
            obs = seen.get(tid)
            if obs is not None:
                cell["metadata"].append(_meta("observable", f"{obs['observable']} ({', '.join(obs['sensors']) or 'no sensor'})"))
                cell["links"] += [_link(f"{det} on attack.mitre.org", f"https://attack.mitre.org/detectionstrategies/{det}")
                                  for det in obs["strategy_ids"]]
            if not rec["covered"]:
                cell["comment"] = str(rec["state"])
        out.append(cell)
    return out


def export(layer: dict[str, Any], attack: AttackData, *, svg: str | Path | None = None,
           xlsx: str | Path | None = None) -> None:
    """Render ``layer`` with mitreattack-python's offline exporters (ToSvg, ToExcel).

    They read a STIX bundle file: they get the release's matrix written as a small bundle
    (:mod:`falco_coverage.attack.matrix_bundle`), which works for the built-in releases too and
    draws the same picture as the full bundle in a fraction of the time. A layer without a platform
    filter (no ATT&CK platform in scope) is drawn over every platform of the release. The
    exporters' notes on stdout are swallowed.
    """
    import contextlib
    import io
    import tempfile

    from mitreattack.navlayers import Layer, SVGConfig, ToExcel, ToSvg
    from tqdm.auto import tqdm

    from ..attack.matrix_bundle import write_matrix_bundle

    if xlsx is not None:  # the layer's name titles the Excel sheet: 31 characters, none of []:*?/\\
        layer = {**layer, "name": "".join(" " if ch in "[]:*?/\\" else ch for ch in layer["name"])[:31] or "layer"}
    if "filters" not in layer:
        every = sorted({p for ps in attack.techniques["platforms"] for p in ps})
        layer = {**layer, "filters": {"platforms": [_NAV_PLATFORMS.get(p, p) for p in every]}}
    short = attack.domain.removesuffix("-attack")
    nav = Layer(init_data=layer)
    steps = [name for name, wanted in (("SVG", svg), ("Excel", xlsx)) if wanted is not None]
    with tempfile.TemporaryDirectory(prefix="falco-coverage-matrix-") as tmp, \
            tqdm(total=len(steps), desc="layer export", unit="file", disable=None, leave=False) as bar, \
            contextlib.redirect_stdout(io.StringIO()):
        bundle = str(write_matrix_bundle(attack, Path(tmp)))
        try:
            if svg is not None:
                bar.set_postfix_str("SVG")
                ToSvg(domain=short, source="local", resource=bundle, config=SVGConfig()).to_svg(
                    layerInit=nav, filepath=str(svg))
                bar.update()
            if xlsx is not None:
                bar.set_postfix_str("Excel")
                ToExcel(domain=short, source="local", resource=bundle).to_xlsx(layerInit=nav, filepath=str(xlsx))
                bar.update()
        except (ArithmeticError, LookupError, ValueError, TypeError, AttributeError) as exc:
            from ..errors import FalcoCoverageError

            raise FalcoCoverageError(f"mitreattack-python could not render this release's matrix "
                                     f"({type(exc).__name__}: {exc}); the layer JSON is written") from None
