"""Read a Falco rules file into plain items with 1-based lines, safely.

YAML is composed into nodes (never constructed into Python objects, so tags like
``!!python/object`` cannot run code) and converted by hand: scalars keep their YAML text as Falco
does (``1194`` stays the string "1194"), aliases are expanded under a node budget (no billion
laughs), nesting is bounded, and files over ``max_bytes`` are refused before parsing.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..budgets import MAX_SCAN_DEPTH, line_of_offset, read_regular, too_deep
from ..errors import RulesError

try:  # libyaml is several times faster; PyYAML wheels ship it
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})


class _TextLoader(_Loader):
    """Implicit tags are only null or str: scalars keep their text, and PyYAML's regex resolver
    (a third of the load time on big files) is skipped. Explicit tags still reach the converter."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _NULL if implicit[0] and value in _NULL_WORDS else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


MAX_BYTES = 32 * 1024 * 1024
MAX_NODES = 2_000_000
MAX_DEPTH = 64
_STD_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "value", "merge")
}
_NULL = "tag:yaml.org,2002:null"


@dataclass
class TagSpan:
    """Where one element of a ``tags`` sequence is written: 0-based offsets into the file text."""

    line: int  # 1-based
    start: int
    end: int


@dataclass
class Item:
    """One top-level item of a rules file: its mapping, and the line of the item and of each key."""

    data: dict[str, Any]
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    #: where each element of the ``tags`` sequence is written, for findings and precise edits
    tag_spans: list[TagSpan] = field(default_factory=list)
    #: True for ``tags: [a, b]``, False for a block sequence, None without a ``tags`` sequence
    tags_flow: bool | None = None
    #: the file it was read from
    file: str = ""
    #: top-level keys whose value is a plain (unquoted) scalar: YAML types it (true, 10), Falco's schema too
    plain_keys: frozenset[str] = frozenset()
    #: where the item's last value ends in the text, and the column its keys start at (to add a key)
    end: int = -1
    key_column: int = 0

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass
class FileProblem:
    """A problem that is not tied to one valid item: Falco code, message, line."""

    code: str
    message: str
    line: int
    item: str | None = None
    #: the whole file is unusable (unreadable, not YAML, not a list of items)
    fatal: bool = False
    #: rule, macro or list, when ``item`` names one
    kind: str | None = None


class _TooBig(Exception):
    def __init__(self, message: str, line: int) -> None:
        self.message, self.line = message, line


class _Converter:
    """Composed nodes to plain values. Only nodes reached again through an alias are charged to the
    budget, so a large file without aliases loads whole and an alias bomb stops early."""

    def __init__(self, has_aliases: bool) -> None:
        self.budget = MAX_NODES
        #: the global tags outside YAML's own met in the current item, with their lines
        self.bad_tags: list[tuple[str, int]] = []
        self.has_aliases = has_aliases
        self.seen: set[int] = set()

    def value(self, node: yaml.Node, depth: int = 0, shared: bool = False) -> Any:
        if self.has_aliases and not shared and not isinstance(node, yaml.ScalarNode):
            shared = id(node) in self.seen
            self.seen.add(id(node))
        if shared:
            self.budget -= 1
            if self.budget < 0:
                raise _TooBig(f"YAML aliases expand past {MAX_NODES:,} nodes (an alias bomb?)",
                              node.start_mark.line + 1)
        if depth > MAX_DEPTH:
            raise _TooBig(f"YAML nests deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        # a local tag (``desc: != after ...`` reads as tag '!=') is ignored, as Falco's YAML reader does;
        # only global tags outside YAML's own (``!!python/object``) are refused
        if node.tag not in _STD_TAGS and node.tag[:1] != "!":
            self.bad_tags.append((node.tag, node.start_mark.line + 1))
        cls = node.__class__
        if cls is _SCALAR:
            return None if node.tag == _NULL else node.value
        # plain text scalars (most children) are taken directly: this loop is most of a file's load time
        if cls is _SEQUENCE:
            out_list = []
            for c in node.value:
                if c.__class__ is _SCALAR and c.tag == _STR and not shared:
                    out_list.append(c.value)
                else:
                    out_list.append(self.value(c, depth + 1, shared))
            return out_list
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = k.value if k.__class__ is _SCALAR and k.tag == _STR and not shared else self.value(k, depth + 1, shared)
            if v.__class__ is _SCALAR and v.tag == _STR and not shared:
                val = v.value
            else:
                val = self.value(v, depth + 1, shared)
            out[key if isinstance(key, str) else str(key)] = val
        return out


_SCALAR, _SEQUENCE = yaml.ScalarNode, yaml.SequenceNode


def _has_alias(raw: bytes) -> bool:
    """Whether the text holds a YAML alias (``*name`` after a blank, ``[``, ``{``, ``,``, ``:`` or ``-``)."""
    i = raw.find(b"*")
    while i != -1:
        before, after = raw[i - 1:i] if i else b" ", raw[i + 1:i + 2]
        if before in b" \t\r\n[{,:-" and after and after not in b" \t\r\n,[]{}":
            return True
        i = raw.find(b"*", i + 1)
    return False


def read_items(path: Path, max_bytes: int = MAX_BYTES) -> tuple[list[Item], list[FileProblem]]:
    """Items of every document of ``path`` in order, and the problems found while reading."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the YAML node graph makes the cyclic GC rescan a growing heap: quadratic time
    try:
        return _read_items(path, max_bytes)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read_items(path: Path, max_bytes: int) -> tuple[list[Item], list[FileProblem]]:
    raw = _read_bytes(path, max_bytes)
    if isinstance(raw, FileProblem):
        return [], [raw]
    docs = _compose(raw)
    if isinstance(docs, FileProblem):
        return [], [docs]
    items: list[Item] = []
    problems: list[FileProblem] = []
    conv = _Converter(has_aliases=_has_alias(raw))
    for doc in docs:
        if doc is None or (isinstance(doc, yaml.ScalarNode) and doc.tag == _NULL):
            continue
        if not isinstance(doc, yaml.SequenceNode):
            problems.append(FileProblem("LOAD_ERR_YAML_VALIDATE",
                                        "Rules content is not yaml array of objects", doc.start_mark.line + 1,
                                        fatal=True))
            continue
        for node in doc.value:
            try:
                got = _item(node, conv, path)
            except _TooBig as exc:
                problems.append(FileProblem("LOAD_ERR_YAML_VALIDATE", exc.message, exc.line))
                return items, problems  # the budget is spent: stop reading this file
            if isinstance(got, Item):
                items.append(got)
            elif got is not None:
                problems.append(got)
    return items, problems


def _read_bytes(path: Path, max_bytes: int) -> bytes | FileProblem:
    """The file's bytes, read under the budget from a regular file; else the fatal problem."""
    try:
        return read_regular(path, max_bytes, RulesError)
    except RulesError as exc:
        return FileProblem("LOAD_ERR_FILE_READ", exc.message, 0, fatal=True)


def _compose(raw: bytes) -> list[Any] | FileProblem:
    """The YAML documents of ``raw`` as nodes (never constructed); else the fatal problem, at its line."""
    if b"\x00" in raw:
        return FileProblem("LOAD_ERR_YAML_PARSE", "binary data (NUL byte); not a YAML rules file",
                           line_of_offset(raw, raw.index(b"\x00")), fatal=True)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileProblem("LOAD_ERR_YAML_PARSE", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); not a YAML rules file",
                           line_of_offset(raw, exc.start), fatal=True)
    deep = too_deep(raw)
    if deep is not None:
        return FileProblem("LOAD_ERR_YAML_PARSE", f"YAML nests deeper than {MAX_SCAN_DEPTH} levels; not a rules file",
                           deep, fatal=True)
    try:
        return list(yaml.compose_all(text, Loader=_TextLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(f"{exc.context or ''} {exc.problem or ''}".split())
        return FileProblem("LOAD_ERR_YAML_PARSE", f"invalid YAML: {reason}", mark.line + 1 if mark else 0, fatal=True)
    except yaml.YAMLError as exc:  # reader errors: unacceptable characters
        pos = getattr(exc, "position", 0) or 0
        return FileProblem("LOAD_ERR_YAML_PARSE", f"invalid YAML: {' '.join(str(exc).split())}",
                           line_of_offset(text, pos), fatal=True)
    except RecursionError:
        return FileProblem("LOAD_ERR_YAML_PARSE", "YAML nests too deeply", 0, fatal=True)


def _item(node: Any, conv: _Converter, path: Path) -> Item | FileProblem | None:
    """One element of a rules file's top-level sequence: an item, a problem, or nothing (a null)."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return None
    if not isinstance(node, yaml.MappingNode):
        return FileProblem("LOAD_ERR_YAML_VALIDATE",
                           "Unexpected element type. Each element should be a yaml associative array.", line)
    conv.bad_tags = []
    data = conv.value(node)  # _TooBig when the budget is spent
    if conv.bad_tags:
        (tag, tline), more = conv.bad_tags[0], conv.bad_tags[1:]
        kind = next((k for k in ("rule", "macro", "list") if isinstance(data.get(k), str)), None)
        also = "".join(f"; also '{t}' at line {n}" for t, n in more[:5]) + (
            f" and {len(more) - 5} more" if len(more) > 5 else "")
        return FileProblem("LOAD_ERR_YAML_VALIDATE", f"unsupported YAML tag '{tag}'{also}; item ignored",
                           tline, data[kind] if kind else None, kind=kind)
    key_lines = {}
    spans: list[TagSpan] = []
    flow: bool | None = None
    plain: set[str] = set()
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode):
            key_lines[k.value] = k.start_mark.line + 1
            if isinstance(v, yaml.ScalarNode) and not v.style:
                plain.add(k.value)
            if k.value == "tags" and isinstance(v, yaml.SequenceNode):
                flow = bool(v.flow_style)
                spans = [TagSpan(c.start_mark.line + 1, c.start_mark.index, c.end_mark.index) for c in v.value]
    end = node.value[-1][1].end_mark.index if node.value else node.end_mark.index
    column = node.value[0][0].start_mark.column if node.value else node.start_mark.column
    return Item(data, line, key_lines, spans, flow, str(path), frozenset(plain), end, column)
