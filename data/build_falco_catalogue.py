"""Rebuild the Falco field/event catalogue shipped in the package from the catalogue data folder.

    python data/build_falco_catalogue.py [DIR]

DIR (default: ../shared/data/falco-fields beside the repository) holds ``fields.json``,
``events.json``, ``transformers.json`` and ``sources.json``. The output,
``falco_coverage/rules/builtin/falco-catalogue.json.gz``, keeps facts only: names, argument forms,
sources, since/deprecation versions and the Falco, libs and plugin versions they reflect (no
description texts). :mod:`falco_coverage.rules.catalogue` reads it.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "falco_coverage" / "rules" / "builtin" / "falco-catalogue.json.gz"
#: the rules engine version of each Falco release the catalogue describes (userspace/engine/
#: falco_engine_version.h of that release); ``required_engine_version`` is compared with it
ENGINE_VERSIONS = {"0.44.0": "0.62.0", "0.44.1": "0.62.0"}


def _version(since: Any) -> str | None:
    """A ``since`` of ``"<=0.35.0"`` means "at least as old as the oldest release looked at": no bound."""
    if not isinstance(since, str) or since.startswith("<="):
        return None
    return since


def build(source: Path) -> dict[str, Any]:
    fields_doc = json.loads((source / "fields.json").read_text())
    events_doc = json.loads((source / "events.json").read_text())
    transformers_doc = json.loads((source / "transformers.json").read_text())
    sources_doc = json.loads((source / "sources.json").read_text())
    meta = fields_doc["_meta"]

    fields: dict[str, dict[str, list[Any]]] = {}
    for f in fields_doc["fields"]:
        # [arg, falco since, deprecation-warning since, no_transformer, plugin]
        arg = {"required": "required", "optional": "optional", "documented": "optional"}.get(f["arg"] or "")
        since = _version(f["since"]) if f["since_kind"] == "falco" else None
        warn_since = f["deprecation_warning_since"] if f["deprecation_warning"] else None
        fields.setdefault(f["source"], {})[f["name"]] = [
            arg, since, warn_since, "NO_TRANSFORMER" in f["flags"], f["plugin"]]
    plugins = {name: info.get("version") for src in meta["per_source"].values()
               for name, info in src["plugins"].items() if name != "libsinsp (built-in)"}
    return {
        "falco_version": meta["falco_version"],
        "engine_version": ENGINE_VERSIONS.get(meta["falco_version"]),
        "libs_version": meta["libs_version"],
        "plugins": dict(sorted(plugins.items())),
        "fields": {src: dict(sorted(v.items())) for src, v in sorted(fields.items())},
        "removed_fields": {f["name"]: f["first_release_without"] for f in fields_doc["removed_fields"]},
        "output_placeholders": {p["name"]: p.get("deprecation_warning_since")
                                for p in fields_doc["output_placeholders"]},
        "events": sorted({e["name"] for e in events_doc["events"]}
                         | {e["name"] for e in events_doc["plugin_events"]}),
        # what Falco captures by default: I/O calls only with all events enabled; generic ones without arguments
        "events_all_only": sorted(e["name"] for e in events_doc["events"] if not e["default"]),
        "events_generic": sorted(e["name"] for e in events_doc["events"] if e["generic"]),
        "transformers": {t["name"]: t["since_falco"] for t in transformers_doc["transformers"]},
        "sources": {s["source"]: sorted(p["name"] for p in s["plugins"]) for s in sources_doc["sources"]},
        "provenance": {"built_from": "falco-fields catalogue data (fields, events, transformers, sources)",
                       "generated": meta.get("generated"), "plugins_commit": meta.get("plugins_commit")},
    }


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "falco-fields"
    if not (source / "fields.json").exists():
        sys.exit(f"{source}: no fields.json (the Falco field catalogue folder)")
    doc = build(source)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    OUT.write_bytes(gzip.compress(raw, mtime=0))
    n = sum(len(v) for v in doc["fields"].values())
    print(f"{source} -> {OUT.relative_to(REPO)}: Falco {doc['falco_version']}, {n} fields, "
          f"{len(doc['events'])} event types ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
