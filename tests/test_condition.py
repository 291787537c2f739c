"""The condition language: operators, transformers, quoting, precedence, event types."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falco_coverage.rules.condition import ConditionError, parse
from falco_coverage.rules.nodes import (
    And, Check, ListRef, MacroRef, Node, Not, Or, ValRef, evt_types, expand, fields, macro_refs, to_text,
)

CMP = ["=", "==", "!=", "<", "<=", ">", ">="]


def _check(text: str) -> Check:
    node: Node = parse(text)
    assert isinstance(node, Check)
    return node
STR_OPS = ["contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex"]


@pytest.mark.parametrize("op", CMP + STR_OPS)
def test_binary_operators(op: str) -> None:
    assert parse(f"fd.name {op} /etc/passwd") == Check("fd.name", op, "/etc/passwd", 0)
    assert parse(f"fd.name{op}x").op == op if op in CMP else True  # type: ignore[union-attr]


@pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
def test_list_operators(op: str) -> None:
    assert _check(f"proc.name {op} (bash, 'sh', \"z sh\")").value == ["bash", "sh", "z sh"]
    assert _check(f"proc.name {op} ()").value == []
    assert _check(f"proc.name {op} shell_binaries").value == ListRef("shell_binaries")


@pytest.mark.parametrize("q", ["oneof", "anyof", "allof"])
def test_string_operator_quantifiers(q: str) -> None:
    assert parse(f"fd.name startswith {q} (/etc, /usr)") == Check("fd.name", f"startswith {q}", ["/etc", "/usr"], 0)


def test_unary_exists() -> None:
    assert parse("proc.pname exists") == Check("proc.pname", "exists", None, 0)
    assert parse("not proc.pname exists") == Not(Check("proc.pname", "exists", None, 4))


@pytest.mark.parametrize("tr", ["tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt"])
def test_transformers(tr: str) -> None:
    node = _check(f"{tr}(proc.name) = bash")
    assert node.field == f"{tr}(proc.name)" and fields(node) == ["proc.name"]


def test_val_on_the_right() -> None:
    node = _check("fd.name = val(fd.directory)")
    assert node.value == ValRef("fd.directory") and fields(node) == ["fd.name", "fd.directory"]


@pytest.mark.parametrize("field", ["proc.aname[2]", "evt.arg.flags", "evt.arg[0]", "json.value[/user/name]",
                                   "ka.req.pod.containers.image.repository", "jevt.value[/a~1b]"])
def test_field_forms(field: str) -> None:
    assert _check(f"{field} = x").field == field


@pytest.mark.parametrize(("text", "value"), [
    ('"a b"', "a b"), ("'a b'", "a b"), (r'"tab\there"', "tab\there"), (r'"nl\n"', "nl\n"),
    (r'"cr\r"', "cr\r"), (r'"bs\\"', "bs\\"), (r'"sl\/"', "sl/"), (r'"bell\b"', "bell\b"), (r'"ff\f"', "ff\f"),
    (r'"hex\x41"', "hexA"), (r'"q\"uote"', 'q"uote'), (r"'q\'uote'", "q'uote"), ('"(not) and or"', "(not) and or"),
    ("-1", "-1"), ("1024", "1024"), ("<", "<"), ("/a/b*.so", "/a/b*.so"),
])
def test_values_quoting_and_escapes(text: str, value: str) -> None:
    assert _check(f"proc.cmdline = {text}").value == value


def test_precedence_or_and_not() -> None:
    a, b, c = (MacroRef(n, i) for n, i in (("a", 0), ("b", 5), ("c", 11)))
    assert parse("a or b and c") == Or([a, And([b, c])])
    node = parse("not a and b")
    assert isinstance(node, And) and isinstance(node.items[0], Not)
    node = parse("not (a or b)")
    assert isinstance(node, Not) and isinstance(node.item, Or)
    assert isinstance(parse("a and b or c"), Or)
    assert parse("((a))") == MacroRef("a", 2)
    assert parse("not not a") == Not(Not(MacroRef("a", 8)))


def test_macro_references_and_keywords_as_words() -> None:
    node = parse("spawned_process and proc.name = and_not_a_keyword and not orphan")
    assert [n for n, _ in macro_refs(node)] == ["spawned_process", "orphan"]
    assert _check("proc.name = and").value == "and"  # a value, not an operator


@pytest.mark.parametrize(("text", "code", "offset"), [
    ("", "parse-error", 0), ("   ", "parse-error", 0), ("proc.name = 'open", "parse-error", 12),
    ("(a and b", "parse-error", 8), ("a and", "parse-error", 5), ("and a", "parse-error", 0),
    ("proc.name equals bash", "unknown-operator", 10), ("proc.name", "parse-error", 9),
    ("a b", "parse-error", 2), ("proc.name in (a, b", "parse-error", 18), ("proc.name = = x", "parse-error", 12),
    ("a )", "parse-error", 2), ("proc.name in", "parse-error", 12),
])
def test_parse_errors_have_positions(text: str, code: str, offset: int) -> None:
    with pytest.raises(ConditionError) as info:
        parse(text)
    assert (info.value.code, info.value.offset) == (code, offset)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for text in ("(" * 5000 + "a" + ")" * 5000, "not " * 5000 + "a"):
        with pytest.raises(ConditionError, match="nests too deeply"):
            parse(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("evt.type in (open, openat) and not evt.type = open", ["openat"]),
    ("evt.type = open or evt.type = close", ["close", "open"]),
    ("evt.type in (a, b) and evt.type in (b, c)", ["b"]),
    ("not (evt.type in (a, b) or evt.type = c) and evt.type in (a, d)", ["d"]),
    ("syscall.type = open and proc.name = x", ["open"]),
    ("evt.type = open and not proc.name = x", ["open"]),
    ("evt.type != open and evt.type in (open, close)", ["close"]),
    ("not not evt.type = a", ["a"]),
])
def test_evt_type_sets(text: str, expected: list[str]) -> None:
    s = evt_types(parse(text))
    assert not s.neg and sorted(s.items) == expected


@pytest.mark.parametrize("text", ["proc.name = x", "evt.type != open", "evt.type = open or proc.name = x",
                                  "not evt.type in (a, b)", "evt.type in my_list"])
def test_unrestricted_evt_types(text: str) -> None:
    assert evt_types(parse(text)).neg


def test_expand_and_render() -> None:
    macros = {"m1": parse("evt.type = open or evt.type = close"), "loop": parse("loop and x.y = 1")}
    node = expand(parse("m1 and not (proc.name in (a, 'b c') or fd.name contains val(proc.name))"), macros)
    assert to_text(node) == ('(evt.type = open or evt.type = close) and not (proc.name in (a, "b c") '
                             "or fd.name contains val(proc.name))")
    assert sorted(evt_types(node).items) == ["close", "open"]
    looped = expand(parse("loop"), macros)  # a self-reference stays a reference
    assert to_text(looped) == "loop and x.y = 1"
    for text in ("a or b and c", "not (a or b)", 'x.y in (1, "a b", c)', "f.x exists and not g.y = '('"):
        assert parse(to_text(parse(text))) == parse(text) or to_text(parse(to_text(parse(text)))) == to_text(parse(text))


# --- property-based ------------------------------------------------------------------------------

FRAGMENTS = ["proc.name", "evt.type", "=", "!=", "in", "(", ")", ",", "and", "or", "not", "'x y'", '"a\\"b"',
             "bash", "exists", "contains", "tolower(", "val(", "oneof", "m1", " ", "pmatch", "[", "]", "\\x4"]


def _check_outcome(text: str) -> None:
    try:
        node = parse(text)
    except ConditionError as exc:
        assert 0 <= exc.offset <= len(text), (text, exc.offset)
        assert exc.code in ("parse-error", "unknown-operator")
        return
    assert isinstance(node, (And, Or, Not, MacroRef, Check))
    to_text(node)
    evt_types(node)


@settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_gives_ast_or_positioned_error(text: str) -> None:
    _check_outcome(text)


@settings(max_examples=400, deadline=500)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(" ".join))
def test_token_soup_gives_ast_or_positioned_error(text: str) -> None:
    _check_outcome(text)


BASE = ("spawned_process and container and proc.name in (bash, 'sh') and not tolower(proc.pname) "
        'startswith "runc" and (fd.name contains /etc or evt.type = openat)')


@settings(max_examples=400, deadline=500)
@given(st.integers(0, len(BASE)), st.integers(0, 10), st.text(max_size=5))
def test_mutated_conditions(pos: int, cut: int, insert: str) -> None:
    _check_outcome(BASE[:pos] + insert + BASE[pos + cut:])
