"""The notebooks: paired with their py:percent text, committed without outputs, thin, parameterised."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import jupytext
import nbformat
import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow  # notebook kernels and a real JupyterLab: .ci/run runs them after the default run

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == ["compare.ipynb", "coverage.ipynb", "mistagged_rules.ipynb", "observed.ipynb"]


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
    # papermill injects plain assignments: keep the parameters cell to `name = literal`, the request first
    body = ast.parse(params[0].source).body
    for node in body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        ast.literal_eval(node.value)  # a literal (the request is a dict of literals), nothing computed
    assert isinstance(body[0], ast.Assign) and ast.unparse(body[0].targets[0]) == "request"
    from falco_coverage.request import Request

    assert Request.from_dict(ast.literal_eval(body[0].value)) == Request()  # its keys are the request's


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_thin(path) -> None:
    """Every computation lives in falco_coverage: no function or class definitions, no loops."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While)), cell.source


def _run_in_lab_mode(tmp_path: Path, notebook: str, **parameters: object) -> tuple[dict, Exception | None]:
    """Execute a notebook as JupyterLab would (not as a report run); the saved notebook and any error."""
    import papermill as pm

    os.environ.pop("FALCO_COVERAGE_REPORT", None)
    out = tmp_path / notebook
    error: Exception | None = None
    try:
        pm.execute_notebook(str(REPO / "notebooks" / notebook), str(out), parameters={"output_dir": str(tmp_path),
                            **parameters}, kernel_name="python3", progress_bar=False)
    except Exception as exc:  # papermill re-raises a failing cell
        error = exc
    return json.loads(out.read_text()), error


def test_a_notebook_saved_from_lab_stays_small(tmp_path: Path) -> None:
    nb, error = _run_in_lab_mode(tmp_path, "coverage.ipynb")  # the example rules, the built-in ATT&CK
    assert error is None
    size = (tmp_path / "coverage.ipynb").stat().st_size
    assert size < 500 * 1024, size
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    assert not any("plotly.js v" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)


def test_a_user_error_in_lab_is_one_box_not_a_traceback(tmp_path: Path) -> None:
    nb, error = _run_in_lab_mode(tmp_path, "coverage.ipynb", request={"attack": str(tmp_path / "missing.json")})
    assert error is not None  # the cell fails, so "Run all" stops there
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    boxes = ["".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    assert any("falco-coverage could not run this notebook" in b and "parameters" in b for b in boxes)
    tracebacks = [o for o in outputs if o.get("output_type") == "error"]
    assert all(not o.get("traceback") for o in tracebacks)
