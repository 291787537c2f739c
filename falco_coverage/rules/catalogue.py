"""What Falco knows: its fields per event source, event types, transformers and sources, by version.

The facts ship in the package (``builtin/falco-catalogue.json.gz``, rebuilt by
``data/build_falco_catalogue.py``) for one Falco release; :meth:`Catalogue.target` narrows them to
an older ``--falco-version`` (a field or transformer newer than it is unknown to that Falco; a
field removed before it is unknown too). Plugin fields are known for the plugins the catalogue
covers; a source with no field table is *unchecked*, not wrong.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

from ..errors import RulesError
from ..versions import version_key

#: every event source's rules may use these fields
ANY_SOURCE = "*"
_ARG = re.compile(r"^([^\[]+)\[(.*)\]$", re.S)


class FieldInfo(NamedTuple):
    """One field: ``arg`` (None, ``optional``, ``required``), the Falco version that added it (None:
    long available), the Falco version from which using it draws a deprecation warning, whether a
    transformer may wrap it, and the plugin providing it (None: built in)."""

    arg: str | None
    since: str | None
    deprecated_since: str | None
    no_transformer: bool
    plugin: str | None


class FieldProblem(NamedTuple):
    sub_code: str  # ERROR_UNKNOWN_FIELD, ...
    message: str


@dataclass(frozen=True)
class Catalogue:
    """The catalogue's facts, as seen by one Falco version (``falco_version``)."""

    falco_version: str
    catalogue_version: str
    engine_version: str | None
    libs_version: str
    plugins: dict[str, str | None]
    fields: dict[str, dict[str, FieldInfo]]
    removed_fields: dict[str, str]
    events: frozenset[str]
    transformers: dict[str, str]
    sources: dict[str, list[str]]
    output_placeholders: dict[str, str | None]
    #: event types Falco captures only with all events enabled (``-A``, ``base_syscalls.all``): I/O calls
    events_all_only: frozenset[str] = frozenset()
    #: event types recorded as generic events, without their arguments
    events_generic: frozenset[str] = frozenset()
    _memo: dict[tuple[str, str], FieldProblem | None] = field(default_factory=dict, compare=False, repr=False)

    def target(self, falco_version: str | None) -> Catalogue:
        """The same facts as ``falco_version`` sees them (the catalogue's own version when None)."""
        if falco_version is None or falco_version == self.falco_version:
            return self
        if version_key(falco_version) == (-1,):
            raise RulesError(f"--falco-version {falco_version!r} is not a version like 0.42.0")
        engine = self.engine_version if version_key(falco_version) >= version_key(self.catalogue_version) else None
        return Catalogue(falco_version, self.catalogue_version, engine, self.libs_version, self.plugins,
                         self.fields, self.removed_fields, self.events, self.transformers, self.sources,
                         self.output_placeholders, self.events_all_only, self.events_generic)

    def available(self, since: str | None) -> bool:
        """Whether something added in Falco ``since`` (None: long ago) exists in this Falco version."""
        return since is None or version_key(since) <= version_key(self.falco_version)

    def checks_source(self, source: str) -> bool:
        """Whether the catalogue has a field table for ``source`` (else its fields go unchecked)."""
        return source in self.fields

    def lookup(self, source: str, name: str) -> FieldInfo | None:
        """The field ``name`` (without argument) as usable by rules of ``source``."""
        return self.fields.get(source, {}).get(name) or self.fields[ANY_SOURCE].get(name)

    def field_problem(self, source: str, expr: str) -> FieldProblem | None:
        """Why ``expr`` (``proc.name``, ``proc.aname[2]``, ``evt.arg.fd``) is not a field of ``source``."""
        key = (source, expr)
        if key in self._memo:
            return self._memo[key]
        out = self._problem(source, expr)
        self._memo[key] = out
        return out

    def _problem(self, source: str, expr: str) -> FieldProblem | None:
        m = _ARG.match(expr)
        name = m.group(1) if m else expr
        info = self.lookup(source, name)
        if info is None and not m:  # dotted argument form: evt.arg.fd, proc.env.HOME
            parts = name.split(".")
            for i in range(len(parts) - 1, 1, -1):
                cand = self.lookup(source, ".".join(parts[:i]))
                if cand is not None and cand.arg is not None:
                    info = cand
                    break
        if info is None:
            removed = self.removed_fields.get(name)
            if removed is not None and version_key(removed) > version_key(self.falco_version):
                return None  # removed later than the Falco version checked against
            if removed is not None:
                return FieldProblem("ERROR_UNKNOWN_FIELD", f"field '{name}' was removed in Falco {removed}")
            return FieldProblem("ERROR_UNKNOWN_FIELD", f"filter_check called with nonexistent field {name} "
                                f"(unknown field for source {source})")
        if not self.available(info.since):
            return FieldProblem("ERROR_UNKNOWN_FIELD", f"field '{name}' needs Falco {info.since} (unknown field "
                                f"in Falco {self.falco_version})")
        return None

    def deprecated(self, source: str, expr: str) -> str | None:
        """The Falco version from which ``expr`` is deprecated with a warning, if that applies here."""
        m = _ARG.match(expr)
        info = self.lookup(source, m.group(1) if m else expr)
        if info is None or info.deprecated_since is None or not self.available(info.deprecated_since):
            return None
        return info.deprecated_since

    def transformer_problem(self, name: str) -> str | None:
        since = self.transformers.get(name)
        if since is None:
            return f"unknown transformer '{name}'"
        if not self.available(since):
            return f"transformer '{name}' needs Falco {since}"
        return None


def _parse(doc: dict[str, Any]) -> Catalogue:
    fields = {src: {name: FieldInfo(*v) for name, v in names.items()} for src, names in doc["fields"].items()}
    fields.setdefault(ANY_SOURCE, {})
    return Catalogue(doc["falco_version"], doc["falco_version"], doc.get("engine_version"), doc["libs_version"],
                     doc["plugins"], fields, doc["removed_fields"], frozenset(doc["events"]), doc["transformers"],
                     doc["sources"], doc["output_placeholders"], frozenset(doc.get("events_all_only", ())),
                     frozenset(doc.get("events_generic", ())))


@lru_cache(maxsize=1)
def builtin() -> Catalogue:
    """The catalogue shipped in the package (read once)."""
    raw = resources.files(__package__).joinpath("builtin", "falco-catalogue.json.gz").read_bytes()
    return _parse(json.loads(gzip.decompress(raw)))


@lru_cache(maxsize=8)
def catalogue(falco_version: str | None = None) -> Catalogue:
    """The built-in catalogue as ``falco_version`` sees it (default: the catalogue's own version)."""
    return builtin().target(falco_version)
