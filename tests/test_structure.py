"""The package's structure: no import circles, layers that only look down, small modules, typed, fast to import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path


from .conftest import REPO

PACKAGE = REPO / "falco_coverage"
#: each module's layer; a module may import only from its own layer or lower ones
LAYERS = {"base": 0, "rules": 1, "attack": 1, "alerts": 1, "analysis": 2, "present": 3, "run": 4}
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import, known: set[str]) -> set[str]:
    """The package modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    base_parts = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base_parts = base_parts[:len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            out.add(sub)  # ``from . import condition``: the submodule
        elif base in known:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in it (function-level and type-only imports too)."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _resolve(name, path.name == "__init__.py", node, known)
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif not state.get(nxt):
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if not state.get(start):
            visit(start, [start])
    return found


def _layer(module: str) -> int:
    if module.endswith("__main__"):
        return LAYERS["run"]
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    graph = import_graph()
    assert "falco_coverage.rules.collector" in graph and graph["falco_coverage.rules.load"]
    assert _cycles(graph) == []


def test_layers_only_import_downwards() -> None:
    bad = [(m, dep) for m, deps in import_graph().items() for dep in deps
           if _layer(dep) > _layer(m) and m != "falco_coverage"]
    assert bad == []


def test_no_module_over_the_line_budget() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_docstrings_explain_the_package_from_inside() -> None:
    offenders = [name for name, path in _modules().items()
                 if "shared/docs" in (text := path.read_text()) or "spec section" in text]
    assert offenders == []


def test_command_line_import_stays_light() -> None:
    code = ("import sys, falco_coverage.run.cli; "
            "print(sorted(m for m in ('plotly', 'nbconvert', 'mitreattack', 'papermill', 'itables', 'sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_mypy_is_clean() -> None:
    from mypy import api

    stdout, stderr, status = api.run(["--config-file", str(REPO / "pyproject.toml"), "--no-incremental",
                                      str(PACKAGE)])
    assert status == 0, stdout + stderr


def _readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):readme.index("### What to install")]
    return re.findall(r"```sh\n(.+?)\n```", quick)


def test_ci_runs_exactly_readmes_test_command_then_the_slow_tests() -> None:
    main_job, tests = _readme_commands()
    assert "falco-coverage report" in main_job and '".[notebooks]"' in main_job
    assert tests.endswith("python -m pytest -q")
    lines = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert tests in lines and lines.index(tests) < lines.index(".venv/bin/python -m pytest -q -m slow -n 0")


def test_the_core_dependencies_are_the_light_ones() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {re.split(r"[<>=\[ ]", d)[0].lower() for d in project["dependencies"]}
    assert core == {"pandas", "numpy", "pyyaml", "fastjsonschema", "orjson", "tqdm"}
    from falco_coverage.extras import EXTRAS

    extras = project["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)  # every extra the code names is one pip knows
    assert "falco-coverage[notebooks,layers,archives]" in extras["dev"]


def test_the_public_face_is_typed_and_lists_its_names(tmp_path: Path) -> None:
    """Editors and mypy see the real types of the lazily imported names, and tab completion lists them."""
    from mypy import api

    import falco_coverage

    assert {"load_rules", "coverage", "Session", "Request", "ConfigError", "AlertsError"} <= set(dir(falco_coverage))
    snippet = tmp_path / "use.py"
    snippet.write_text("from falco_coverage import Session, coverage, load_rules\n"
                       "reveal_type(load_rules)\nreveal_type(coverage)\nreveal_type(Session().coverage())\n")
    stdout, _, _ = api.run(["--config-file", str(REPO / "pyproject.toml"), "--no-incremental", str(snippet)])
    revealed = [line for line in stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 3 and not any('"Any"' in line for line in revealed), stdout
    assert "RuleSet" in revealed[0] and "Coverage" in revealed[1] and "Coverage" in revealed[2]


def test_objects_show_a_summary_not_a_frame_dump() -> None:
    from falco_coverage import Session, load_attack, load_rules

    fixtures = REPO / "tests" / "fixtures" / "rules"
    rs = load_rules(fixtures / "base.yaml", fixtures / "own.yaml")
    session = Session(rules=[str(fixtures / "base.yaml"), str(fixtures / "own.yaml")])
    for obj, kind in ((rs, "RuleSet"), (load_attack(), "AttackData"), (session.coverage(), "Coverage"),
                      (session, "Session")):
        text = repr(obj)
        assert text.startswith(f"{kind}(") and "\n" not in text and len(text) < 600, text
        assert obj._repr_html_().startswith("<div><b>")
    assert rs == rs and rs != load_rules(fixtures / "base.yaml", fixtures / "own.yaml")  # identity, never a raise


MAX_PARAMETERS = 8
MAX_COMPLEXITY = 25


def test_no_function_takes_more_than_eight_parameters() -> None:
    wide = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
                n = len([p for p in params if p.arg not in ("self", "cls")])
                if n > MAX_PARAMETERS:
                    wide.append(f"{name}.{node.name}: {n}")
    assert wide == []


def _blocks(blocks: list) -> list:
    """Every function, method and closure radon measured (a class's methods are inside it)."""
    out = []
    for block in blocks:
        inner = [*getattr(block, "methods", []), *getattr(block, "closures", []), *getattr(block, "inner_classes", [])]
        if not hasattr(block, "methods"):
            out.append(block)
        out += _blocks(inner)
    return out


def test_no_function_is_over_the_complexity_budget() -> None:
    from radon.complexity import cc_visit

    measured = [(name, block) for name, path in _modules().items() for block in _blocks(cc_visit(path.read_text()))]
    assert len(measured) > 500  # methods and closures included
    tangled = [f"{name}.{block.name}: {block.complexity}" for name, block in measured
               if block.complexity > MAX_COMPLEXITY]
    assert tangled == []
