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
from .collector import Collector
from .compiler import compile_all
from .diagnostics import Diagnostics
from .frames import RuleSet, build
from .reader import MAX_BYTES, read_items


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


def load_rules(*paths: str | Path, base: Iterable[str | Path] = (), strict: bool = False,
               max_bytes: int = MAX_BYTES) -> RuleSet:
    """Load Falco rules files (or directories of ``*.yaml``/``*.yml``, sorted) in the order given.

    ``base`` files (upstream rules, say) load first, in order, so that the others' macros, lists,
    appends and overrides resolve as in Falco; every rule then says whether it is ``own`` (defined or
    changed in one of ``paths``) or ``base``. With ``strict=True`` the first error raises
    :class:`RulesError`; otherwise errors become rows of ``diagnostics`` and loading goes on with
    what is valid, as Falco's loader would.
    """
    if not paths:
        raise RulesError("no rules files given")
    base_paths = expand_paths(base)
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
            col.add_file(file, items, loaded=not (any(p.fatal for p in problems) and not items))
            expanded = compile_all(col.defs, diags)
        return build(col, expanded)
    finally:
        if gc_was_enabled:
            gc.enable()
