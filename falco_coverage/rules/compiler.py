"""Compile the definitions as Falco does after each file: lists, exceptions, macros, loops.

Lists are expanded one level (a list naming an earlier list takes its items) and substituted into
conditions as *text*, in list definition order, exactly as Falco does. A rule's compiled condition
is ``(condition) and not E1 and not E2 ...`` for its exceptions. Every compiled condition is then
parsed; a macro may use only macros it can see (defined or changed before it), a rule any macro;
macros on a reference cycle are errors, and a macro or rule using a broken macro is broken too.
The facts found (undefined names, loops, lists used, validity) are stored on each
:class:`~falco_coverage.rules.collector.Definition`, never only in message text.
"""

from __future__ import annotations

import re
from typing import Any

from ..findings import Location
from . import condition
from .collector import Definition
from .decode import LIST_COMPS
from .diagnostics import Diagnostics
from .nodes import Node, macro_refs

def quote_item(value: str) -> str:
    """Falco's quoting of a list item substituted into a condition."""
    if " " in value and value[:1] not in ("'", '"'):
        return f'"{value}"'
    return value


_BLANKS = " \t\n\r"
_DELIMS = _BLANKS + "(),="
_WORDS = re.compile(r"[^\s(),=]+")


def _substitute_one(cond: str, name: str, items: list[str]) -> tuple[str, bool]:
    sub = ", ".join(quote_item(v) for v in items)
    out: list[str] = []
    pos = 0
    hit = False
    i = cond.find(name)
    while i != -1:
        end = i + len(name)
        if (i == 0 or cond[i - 1] in _DELIMS) and (end >= len(cond) or cond[end] in _DELIMS):
            s, e = i, end
            while s > pos and cond[s - 1] in _BLANKS:
                s -= 1
            while e < len(cond) and cond[e] in _BLANKS:
                e += 1
            left = " " if s < i else ""
            right = " " if e > end and e < len(cond) else ""
            if not sub:
                left = right = ""
                if s > pos and cond[s - 1] == ",":
                    s -= 1
                elif e < len(cond) and cond[e] == ",":
                    e += 1
                    while e < len(cond) and cond[e] in _BLANKS:
                        e += 1
            out.append(cond[pos:s] + left + sub + right)
            pos = e
            hit = True
            i = cond.find(name, e)
        else:
            i = cond.find(name, i + 1)
    out.append(cond[pos:])
    return "".join(out), hit


def odd_names(lists: dict[str, tuple[int, list[str]]]) -> list[str]:
    """List names that are no single condition word (blanks, '='): Falco warns, and still substitutes them."""
    return [n for n in lists if not _WORDS.fullmatch(n)]


def substitute_lists(cond: str, lists: dict[str, tuple[int, list[str]]],
                     odd: list[str] | None = None) -> tuple[str, set[str]]:
    """Substitute list names in ``cond`` as Falco does (text, lists in definition order).

    ``lists`` maps name -> (definition order, items); ``odd`` is :func:`odd_names` of it (computed
    when not given). Returns the new text and the lists used.
    """
    words = {w for w in _WORDS.findall(cond) if w in lists}
    words.update(n for n in (odd_names(lists) if odd is None else odd) if n in cond)
    pending = sorted((lists[w][0], w) for w in words)
    used: set[str] = set()
    done: set[str] = set()
    while pending:
        order, name = pending.pop(0)
        if name in done:
            continue
        done.add(name)
        cond, hit = _substitute_one(cond, name, lists[name][1])
        if hit:
            used.add(name)
            later = {w for v in lists[name][1] for w in _WORDS.findall(v)
                     if w in lists and w not in done and lists[w][0] > order}
            if later:
                pending = sorted(set(pending) | {(lists[w][0], w) for w in later})
    return cond, used


def exception_condition(exc: dict[str, Any]) -> str:
    """The condition an exception adds to its rule as ``and not E`` ('' when it has no values).

    Each values tuple becomes ``(f1 c1 v1 and f2 c2 v2 ...)``, the tuples are or-ed; a single field
    with a list of values becomes ``(field comp (v1, v2, ...))``.
    """
    fields_, comps, values = exc.get("fields"), exc.get("comps"), exc.get("values") or []
    if isinstance(fields_, list):
        comps = comps if isinstance(comps, list) else ["="] * len(fields_)
        alts = []
        for tup in values:
            parts = []
            for f, c, v in zip(fields_, comps, tup):
                if isinstance(v, list):
                    val = "(" + ", ".join(quote_item(str(x)) for x in v) + ")"
                elif (c in LIST_COMPS or " " in c) and not str(v).startswith("("):
                    val = f"({v})"
                else:
                    val = quote_item(str(v))
                parts.append(f"{f} {c} {val}")
            alts.append("(" + " and ".join(parts) + ")")
        return "(" + " or ".join(alts) + ")" if alts else ""
    if not values:
        return ""
    comp = comps if isinstance(comps, str) else "in"
    flat = [quote_item(str(v)) for v in values]
    return f"({fields_} {comp} ({', '.join(flat)}))"



_PARSE_CACHE: dict[str, Node | condition.ConditionError] = {}


def parse_cached(text: str) -> Node:
    """Parse with a memo: Falco recompiles everything after each file, mostly the same texts."""
    hit = _PARSE_CACHE.get(text)
    if hit is None:
        if len(_PARSE_CACHE) > 50_000:
            _PARSE_CACHE.clear()
        try:
            hit = condition.parse(text)
        except condition.ConditionError as exc:
            hit = exc
        _PARSE_CACHE[text] = hit
    if isinstance(hit, condition.ConditionError):
        raise hit
    return hit


def clear_parse_cache() -> None:
    _PARSE_CACHE.clear()


def _condition_location(d: Definition) -> Location:
    return d.pieces[0].location if d.pieces else d.location


def _piece_at(d: Definition, offset: int) -> Location:
    """Where the condition text at ``offset`` was written: the definition, or the append that added it."""
    end = 0
    for piece in d.pieces:
        end += len(piece.text)
        if offset < end:
            return piece.location
    return d.pieces[-1].location if d.pieces else d.location


def _error_location(d: Definition) -> Location:
    """For a condition that does not compile: the piece the raw text fails in (appends included)."""
    if len(d.pieces) < 2:
        return _condition_location(d)
    try:
        condition.parse(d.condition)
    except condition.ConditionError as exc:
        return _piece_at(d, exc.offset)
    return _condition_location(d)


def _ref_location(d: Definition, name: str) -> Location:
    """Where macro ``name`` is referred to in ``d``'s condition as written."""
    if len(d.pieces) < 2:
        return _condition_location(d)
    try:
        refs = macro_refs(condition.parse(d.condition))
    except condition.ConditionError:
        return _condition_location(d)
    return next((_piece_at(d, off) for n, off in refs if n == name), _condition_location(d))


def _parse_into(d: Definition, text: str, diags: Diagnostics) -> list[tuple[str, int]]:
    """Parse ``d``'s compiled text into ``d.ast``; its macro references, or [] when it does not parse."""
    d.compiled = text
    try:
        d.ast = parse_cached(text)
    except condition.ConditionError as exc:
        diags.add("LOAD_ERR_COMPILE_CONDITION", f"{exc.message} (offset {exc.offset})", d.name,
                  _error_location(d), d.kind)
        d.ast, d.valid = None, False
        return []
    return macro_refs(d.ast)


def compile_all(defs: dict[str, dict[str, Definition]], diags: Diagnostics) -> dict[str, tuple[int, list[str]]]:
    """Compile every definition in place; returns the expanded lists (name -> (order, items))."""
    lists = defs["list"]
    expanded = _expand_lists(lists)
    odd = odd_names(expanded)
    macros = defs["macro"]
    _compile_macros(macros, expanded, odd, diags)
    for r in defs["rule"].values():
        _compile_rule(r, macros, expanded, odd, diags)
    for d in (*macros.values(), *defs["rule"].values()):
        for name in d.lists_used:
            lists[name].used = True
    return expanded


def _expand_lists(lists: dict[str, Definition]) -> dict[str, tuple[int, list[str]]]:
    """Each list's items with the lists it names (defined before it) expanded, one level, raw items."""
    expanded: dict[str, tuple[int, list[str]]] = {}
    for lst in lists.values():
        lst.used = False
    for lst in lists.values():
        out: list[str] = []
        for it in lst.fields["items"]:
            inner = lists.get(it)
            if inner is not None and inner.index < lst.visibility and inner is not lst:
                out.extend(inner.fields["items"])
                inner.used = True
            else:
                out.append(it)
        expanded[lst.name] = (lst.index, out)
    return expanded


def _compile_macros(macros: dict[str, Definition], expanded: dict[str, tuple[int, list[str]]], odd: list[str],
                    diags: Diagnostics) -> None:
    """Parse every macro; undefined references, loops, and macros that use a broken one are invalid."""
    refs: dict[str, list[tuple[str, int]]] = {}
    for m in macros.values():
        m.valid, m.in_loop, m.used, m.undefined = True, False, False, []
        text, m.lists_used = substitute_lists(m.condition, expanded, odd)
        refs[m.name] = _parse_into(m, text, diags)
        for name, _ in refs[m.name]:
            target = macros.get(name)
            if target is None or target.index >= m.visibility:
                m.undefined.append(name)
                diags.add("ERROR_UNDEFINED_MACRO", f"Undefined macro '{name}' used in filter.", m.name,
                          _ref_location(m, name), "macro")
                m.valid = False
    for name in _loops(refs, macros):
        macros[name].in_loop, macros[name].valid = True, False
        diags.add("ERROR_MACRO_LOOP", f"reference loop in macro '{name}'", name,
                  _condition_location(macros[name]), "macro")
    changed = True  # a macro that uses a broken macro is broken too
    while changed:
        changed = False
        for name, rs in refs.items():
            if macros[name].valid and any(n in macros and not macros[n].valid for n, _ in rs):
                macros[name].valid = False
                changed = True
    for rs in refs.values():
        for n, _ in rs:
            if n in macros:
                macros[n].used = True


def _compile_rule(r: Definition, macros: dict[str, Definition], expanded: dict[str, tuple[int, list[str]]],
                  odd: list[str], diags: Diagnostics) -> None:
    """Parse a rule's condition with its exceptions; an undefined or broken macro makes it invalid."""
    r.undefined = []  # validity is not reset: an error after an earlier file stands (a redefinition clears it)
    full = "(" + r.condition + ")"
    for exc in r.fields["exceptions"]:
        e = exception_condition(exc)
        if e:
            full += " and not " + e
    text, r.lists_used = substitute_lists(full, expanded, odd)
    for ref, _ in _parse_into(r, text, diags):
        if ref not in macros:
            r.undefined.append(ref)
            diags.add("ERROR_UNDEFINED_MACRO", f"Undefined macro '{ref}' used in filter.", r.name,
                      _ref_location(r, ref), "rule")
            r.valid = False
        else:
            macros[ref].used = True
            if not macros[ref].valid:
                r.valid = False


def _loops(refs: dict[str, list[tuple[str, int]]], macros: dict[str, Definition]) -> list[str]:
    """Every macro on a reference cycle (reachable only through redefinition, given visibility)."""
    state: dict[str, int] = {}
    on_loop: list[str] = []
    for start in refs:
        if state.get(start):
            continue
        stack = [(start, iter(refs.get(start, [])))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            ref = nxt[0]
            if ref not in macros:
                continue
            if state.get(ref) == 1:  # back edge: everything on the stack from ref is on the cycle
                path = [n for n, _ in stack]
                for member in path[path.index(ref):]:
                    if member not in on_loop:
                        on_loop.append(member)
            elif not state.get(ref):
                state[ref] = 1
                stack.append((ref, iter(refs.get(ref, []))))
    return on_loop
