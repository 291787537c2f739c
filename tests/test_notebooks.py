"""The notebooks: paired with their py:percent text, committed without outputs, thin, parameterised."""

from __future__ import annotations

import ast

import jupytext
import nbformat
import pytest

from .conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == ["compare.ipynb", "coverage.ipynb", "mistagged_rules.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_paired_without_outputs_and_one_parameters_cell(path) -> None:
    nb = nbformat.read(path, as_version=4)
    text = jupytext.read(path.with_suffix(".py"))
    assert [c.source for c in nb.cells] == [c.source for c in text.cells], "run: jupytext --sync notebooks/*.py"
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and code[0] is params[0]
    # papermill injects plain assignments: keep the parameters cell to `name = literal`
    for node in ast.parse(params[0].source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.List)), ast.dump(node)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_thin(path) -> None:
    """Every computation lives in falco_coverage: no function or class definitions, no loops."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While)), cell.source
