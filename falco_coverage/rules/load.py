"""``load_rules``: read files in order, apply their items, compile after each file, build frames.

The stages, each in its own module: :mod:`~falco_coverage.rules.reader` (YAML to items, safely),
:mod:`~falco_coverage.rules.collector` (apply items with Falco's semantics),
:mod:`~falco_coverage.rules.compiler` (lists, exceptions, macros; after every file, as Falco does),
:mod:`~falco_coverage.rules.frames` (the DataFrames). ``docs/rules-loading.md`` describes the
semantics in full.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from pathlib import Path

from ..errors import RulesError
from ..findings import Location
from ..versions import version_key
from .collector import Collector
from .catalogue import Catalogue, catalogue
from .compiler import compile_all
from .diagnostics import Diagnostics
from .fieldcheck import FieldChecker
from .frames import RuleSet, build
from .reader import MAX_BYTES, read_items
from .schema import check_items


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files in load order: a directory stands for its ``*.yaml``/``*.yml`` files, sorted by name."""
    out: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            out.extend(sorted(q for q in path.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(path)
    return out


def check_engine_version(col: Collector, cat: Catalogue, diags: Diagnostics) -> None:
    """Falco refuses a file whose ``required_engine_version`` is newer than its engine."""
    if cat.engine_version is None:
        return
    for need, where in col.engine_requirements:
        if version_key(need) > version_key(cat.engine_version):
            diags.add("ERROR_ENGINE_VERSION", f"Rules require engine version {need}, but engine version is "
                      f"{cat.engine_version} (Falco {cat.falco_version})", None, where)


def load_rules(*paths: str | Path, base: Iterable[str | Path] = (), strict: bool = False,
               max_bytes: int = MAX_BYTES, sources: Iterable[str] | None = None,
               falco_version: str | None = None, check_fields: bool = True,
               check_schema: bool = True) -> RuleSet:
    """Load Falco rules files (or directories of ``*.yaml``/``*.yml``, sorted) in the order given.

    ``base`` files (upstream rules, say) load first, in order, so that the others' macros, lists,
    appends and overrides resolve as in Falco; every rule then says whether it is ``own`` (defined or
    changed in one of ``paths``) or ``base``. With ``strict=True`` the first error raises
    :class:`RulesError`; otherwise errors become rows of ``diagnostics`` and loading goes on with
    what is valid, as Falco's loader would.

    Fields, event types, transformers and output tokens are checked against the built-in Falco
    catalogue as ``falco_version`` (default: the catalogue's) knows them, and
    ``required_engine_version`` against that version's engine (``check_fields=False`` skips both);
    every item against Falco's rules-file schema (``schema`` warnings; ``check_schema=False`` skips it).
    ``sources`` are the event sources Falco has loaded: a rule of another source is skipped with
    LOAD_UNKNOWN_SOURCE, as Falco does; None (the default) loads every source.
    """
    if not paths:
        raise RulesError("no rules files given")
    base_paths = expand_paths(base)
    cat = catalogue(falco_version) if check_fields else None
    diags = Diagnostics(strict)
    col = Collector(diags, base_files={str(p) for p in base_paths})
    expanded: dict[str, tuple[int, list[str]]] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the YAML node graph makes the cyclic GC rescan a growing heap: quadratic time
    try:
        for path in base_paths + expand_paths(paths):
            file = str(path)
            if not path.exists():
                diags.add("LOAD_ERR_FILE_READ", "no such file", None, Location(file, 0))
                col.add_file(file, [], loaded=False)
                continue
            items, problems = read_items(path, max_bytes)
            for p in problems:
                diags.add(p.code, p.message, p.item, Location(file, p.line), p.kind)
            if check_schema:
                check_items(items, diags)
            col.add_file(file, items, loaded=not (any(p.fatal for p in problems) and not items))
            expanded = compile_all(col.defs, diags)
        if cat is not None:
            check_engine_version(col, cat, diags)
        return build(col, expanded, FieldChecker(cat, diags) if cat is not None else None,
                     frozenset(sources) if sources is not None else None)
    finally:
        if gc_was_enabled:
            gc.enable()
