"""The condition AST as typed nodes, and what the loader and the lints do with it.

Nodes are named tuples: cheap to build (a large rule set has tens of thousands), comparable, and
typed. ``offset`` is the 0-based character offset of the node in the text it was parsed from.

- :class:`Or`, :class:`And` hold ``items``; :class:`Not` holds ``item``;
- :class:`MacroRef` is a bare name (a macro, when the loader knows one by that name);
- :class:`Check` is ``field op value``: ``value`` is ``None`` (unary ``exists``), a ``str``, a
  ``list`` of ``str`` (an inline list ``(a, b)``), a :class:`ListRef` (a bare list name) or a
  :class:`ValRef` (another field's value: ``val(field)``, held as ``field``, or a transformer of a
  field such as ``toupper(proc.pname)``, held whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple, Union


class ListRef(NamedTuple):
    name: str


class ValRef(NamedTuple):
    field: str


Value = Union[None, str, list[str], ListRef, ValRef]


class Check(NamedTuple):
    field: str
    op: str
    value: Value
    offset: int


class MacroRef(NamedTuple):
    name: str
    offset: int


class Not(NamedTuple):
    item: Node


class And(NamedTuple):
    items: list[Node]


class Or(NamedTuple):
    items: list[Node]


Node = Union[Or, And, Not, MacroRef, Check]

EVT_TYPE_FIELDS = frozenset({"evt.type", "syscall.type"})
_PLAIN_VALUE = re.compile(r"[^()\"'\s=,]+")
_TRANSFORMED = re.compile(r"\w+\((.+)\)")


def children(node: Node) -> list[Node]:
    if isinstance(node, (And, Or)):
        return node.items
    if isinstance(node, Not):
        return [node.item]
    return []


def walk(node: Node) -> Iterator[Node]:
    """Every node of the AST, depth first, in order of appearance."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (And, Or)):
            stack.extend(reversed(n.items))
        elif isinstance(n, Not):
            stack.append(n.item)


def _leaves(node: Node) -> tuple[list[MacroRef], list[Check]]:
    """The macro references and the checks, each in order of appearance (a plain loop: this is hot)."""
    refs: list[MacroRef] = []
    found: list[Check] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Check):
            found.append(n)
        elif isinstance(n, MacroRef):
            refs.append(n)
        elif isinstance(n, Not):
            stack.append(n.item)
        else:
            stack.extend(reversed(n.items))
    return refs, found


def macro_refs(node: Node) -> list[tuple[str, int]]:
    """``(name, offset)`` of every macro reference, in order of appearance."""
    return [(n.name, n.offset) for n in _leaves(node)[0]]


def checks(node: Node) -> list[Check]:
    """Every check (``field op value``), in order of appearance."""
    return _leaves(node)[1]


def _value_text(v: Value) -> str:
    if isinstance(v, list):
        return "(" + ", ".join(_value_text(x) for x in v) + ")"
    if isinstance(v, ListRef):
        return v.name
    if isinstance(v, ValRef):
        return v.field if "(" in v.field else f"val({v.field})"
    text = str(v)
    if _PLAIN_VALUE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_text(node: Node, falco: bool = False) -> str:
    """Render an AST as a condition: parenthesised where precedence needs it, or (``falco=True``) as
    Falco prints a compiled condition, every ``and``/``or`` in parentheses."""
    if isinstance(node, MacroRef):
        return node.name
    if isinstance(node, Check):
        head = f"{node.field} {node.op}"
        return head if node.value is None else f"{head} {_value_text(node.value)}"
    if isinstance(node, Not):
        inner = to_text(node.item, falco)
        return "not " + (f"({inner})" if not falco and isinstance(node.item, (And, Or)) else inner)
    sep = " and " if isinstance(node, And) else " or "
    if falco:
        return "(" + sep.join(to_text(c, True) for c in node.items) + ")"
    return sep.join(f"({to_text(c)})" if isinstance(c, Or) and isinstance(node, And) else to_text(c)
                    for c in node.items)


def falco_text(node: Node) -> str:
    """Render an AST as Falco prints a compiled condition (see :func:`to_text`)."""
    return to_text(node, falco=True)


def expand(node: Node, macros: dict[str, Node], stack: tuple[str, ...] = ()) -> Node:
    """Replace macro references by their (recursively expanded) ASTs; unknown macros and loops stay."""
    if isinstance(node, Check):
        return node
    if isinstance(node, MacroRef):
        target = macros.get(node.name)
        if target is None or node.name in stack:
            return node
        return expand(target, macros, stack + (node.name,))
    if isinstance(node, Not):
        return Not(expand(node.item, macros, stack))
    items = [expand(c, macros, stack) for c in node.items]
    return And(items) if isinstance(node, And) else Or(items)


def base_field(expr: str) -> str:
    """The field under any transformers: ``toupper(proc.pname)`` -> ``proc.pname``."""
    m = _TRANSFORMED.fullmatch(expr)
    while m:
        expr = m.group(1).strip()
        m = _TRANSFORMED.fullmatch(expr)
    return expr


def fields(node: Node) -> list[str]:
    """Fields the checks read (transformers stripped, ``val()`` operands included), first use first."""
    out: dict[str, None] = {}
    for n in checks(node):
        out[base_field(n.field) if "(" in n.field else n.field] = None
        if isinstance(n.value, ValRef):
            out[base_field(n.value.field)] = None
    return list(out)


class EvtSet:
    """A set of event types, or the complement of one (``neg``): Falco's evt.type arithmetic."""

    __slots__ = ("items", "neg")

    def __init__(self, items: frozenset[str] = frozenset(), neg: bool = False) -> None:
        self.items, self.neg = items, neg

    @classmethod
    def all(cls) -> EvtSet:
        return cls(frozenset(), True)

    def and_(self, o: EvtSet) -> EvtSet:
        if not self.neg and not o.neg:
            return EvtSet(self.items & o.items)
        if not self.neg:
            return EvtSet(self.items - o.items)
        if not o.neg:
            return EvtSet(o.items - self.items)
        return EvtSet(self.items | o.items, True)

    def or_(self, o: EvtSet) -> EvtSet:
        if not self.neg and not o.neg:
            return EvtSet(self.items | o.items)
        if not self.neg:
            return EvtSet(o.items - self.items, True)
        if not o.neg:
            return EvtSet(self.items - o.items, True)
        return EvtSet(self.items & o.items, True)


def evt_types(node: Node, negate: bool = False) -> EvtSet:
    """The event types a (macro-expanded) condition can match: ``and`` intersects, ``or`` unites,
    ``not`` is pushed to the leaves, any check other than on evt.type matches every type."""
    if isinstance(node, Not):
        return evt_types(node.item, not negate)
    if isinstance(node, (And, Or)):
        # De Morgan: under a negation, and <-> or
        combine_and = isinstance(node, And) != negate
        sets = [evt_types(c, negate) for c in node.items]
        acc = sets[0]
        for s in sets[1:]:
            acc = acc.and_(s) if combine_and else acc.or_(s)
        return acc
    if isinstance(node, Check) and node.field == "evt.num" and node.op in ("=", "==") and node.value == "0":
        # event numbers start at 1: ``evt.num = 0`` never matches (the never_true placeholder idiom)
        return EvtSet.all() if negate else EvtSet()
    if isinstance(node, Check) and node.field in EVT_TYPE_FIELDS and node.op in ("=", "==", "!=", "in"):
        value = node.value
        if node.op == "in":
            if not isinstance(value, list):
                return EvtSet.all()
            items, positive = frozenset(str(v) for v in value), True
        else:
            items, positive = frozenset([str(value)]), node.op != "!="
        return EvtSet(items, neg=positive == negate)
    return EvtSet.all()
