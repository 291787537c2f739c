"""Reports: every notebook executes, the HTML opens offline with its figures, rule text is inert,
each file stays under the size budget, and one failing notebook does not stop the others."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from falco_coverage.run.report import run_report

from .browser import dump_dom, inspect_pages
from .conftest import REPO, shared_path

pytestmark = pytest.mark.slow  # notebook kernels and Chromium: .ci/run runs them after the default run

UPSTREAM = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
#: a page: plotly.js (4.8 MB) and DataTables (1 MB) embedded once, the rest is the report itself
MAX_BYTES = 6.5 * 1024 * 1024
#: figures each report shows (a plotly figure renders as one div.js-plotly-plot)
FIGURES = {"coverage.html": 7, "compare.html": 1, "mistagged_rules.html": 0, "observed.html": 3}
#: the bundle a default run writes for the upstream rules (compare needs a second side)
MAX_BUNDLE = 8_000_000  # 8 MB

XSS_RULES = r"""
- macro: spawned_process
  condition: evt.type in (execve, execveat)

- rule: "<script>document.body.setAttribute('data-pwned','script-name')</script>"
  desc: "<img src=x onerror=\"document.body.setAttribute('data-pwned','img-desc')\"> [click](javascript:document.body.setAttribute('data-pwned','md-link'))"
  condition: spawned_process and proc.name = bash
  output: "<a href=\"javascript:document.body.setAttribute('data-pwned','a-output')\">x</a> %proc.name"
  priority: WARNING
  tags: [mitre_impact, T1059, "<img src=y onerror=\"document.body.setAttribute('data-pwned','tag')\">"]
"""


@pytest.fixture(scope="module")
def upstream_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    alerts = out.parent / "alerts.jsonl"
    alerts.write_text("".join(json.dumps({"time": f"2026-11-01T{10 + i % 5}:00:00Z", "rule": rule, "priority": "Notice",
                                          "source": "syscall", "hostname": f"node-{i % 3}", "tags": []}) + "\n"
                              for i, rule in enumerate(["Terminal shell in container"] * 6
                                                       + ["Read sensitive file untrusted"] * 3 + ["Not ours"])))
    result = run_report({"rules": [str(shared_path("falco-rules", "main", n)) for n in UPSTREAM],
                         "attack": str(shared_path("attack", "enterprise-attack-18.1.json")),
                         "compare_attack": str(shared_path("attack", "enterprise-attack-13.1.json")),
                         "alerts": [str(alerts)]}, out_dir=out, progress=False, keep_notebooks=True)
    assert result.failed == [], [r.error for r in result.failed]
    return out


def test_every_notebook_executed(upstream_reports: Path) -> None:
    for name in ("coverage", "mistagged_rules", "compare", "observed"):
        nb = json.loads((upstream_reports / "notebooks" / f"{name}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), name
        assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])), name
    layer = json.loads((upstream_reports / "coverage-layer.json").read_text())
    assert layer["versions"]["attack"] == "18" and layer["techniques"]


def test_index_links_reports(upstream_reports: Path) -> None:
    index = (upstream_reports / "index.html").read_text()
    for name in FIGURES:
        assert f'href="{name}"' in index
    assert "ATT&amp;CK 18.1" in index and "falco-sandbox_rules.yaml" in index
    assert 'href="coverage-layer.json"' in index


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_html_is_self_contained_and_small(upstream_reports: Path, name: str) -> None:
    page = upstream_reports / name
    assert page.stat().st_size < MAX_BYTES
    text = page.read_text()
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', text), "loads something from the network"
    if FIGURES[name]:
        assert text.count("plotly.js v") == 1  # plotly.js embedded exactly once


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_render_offline_in_a_browser(upstream_reports: Path, name: str) -> None:
    dom = dump_dom(upstream_reports / name)
    plots = len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom))
    svgs = len(re.findall(r'<svg[^>]*class="main-svg"', dom))
    assert plots == FIGURES[name], (plots, svgs)
    assert svgs >= FIGURES[name]
    if name == "coverage.html":
        assert "T1059" in dom and "Command and Scripting Interpreter" in dom  # heatmap text drawn


def test_rule_text_is_never_executed(tmp_path: Path) -> None:
    rules = tmp_path / "evil.yaml"
    rules.write_text(XSS_RULES)
    out = tmp_path / "reports"
    result = run_report({"rules": [str(rules)], "attack": str(shared_path("attack", "enterprise-attack-18.1.json"))},
                        out_dir=out, notebooks=["coverage", "mistagged"], progress=False)
    assert result.failed == [], [r.error for r in result.failed]
    for name in ("coverage.html", "mistagged_rules.html", "index.html"):
        dom = dump_dom(out / name)
        assert 'data-pwned="' not in dom, name
        assert not re.search(r'<a[^>]+href="javascript:', dom), name
        assert not re.search(r'<img[^>]+src="[xy]"', dom), name
        assert not re.search(r"<script>document\.body", dom), name
    mistagged = dump_dom(out / "mistagged_rules.html")
    assert "&lt;script&gt;document.body.setAttribute" in mistagged  # shown as text, not run


def test_failing_notebook_is_named_and_others_still_written(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = run_report({"rules": [str(REPO / "data" / "examples")],
                         "attack": str(shared_path("attack", "enterprise-attack-18.1.json")),
                         "scope": {"min_priority": "LOUD"}}, out_dir=out, notebooks=["coverage", "mistagged"],
                        progress=False)
    (failed,) = result.failed
    assert failed.key == "coverage" and failed.error.startswith("coverage.ipynb: cell ")
    assert "unknown priority 'LOUD'" in failed.error
    assert (out / "mistagged_rules.html").stat().st_size > 0
    assert "failed" in (out / "index.html").read_text()


def test_newcomer_command_uses_the_example_rules(tmp_path: Path) -> None:
    """README's main command on a fresh machine: no ATT&CK anywhere (the built-in release serves), no
    network, run from elsewhere, default rules and output."""
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FALCO_COVERAGE_ATTACK")}
    env["FALCO_COVERAGE_ATTACK_URL"] = "file:///nonexistent/{domain}-{version}.json"  # any download would fail
    r = subprocess.run([sys.executable, "-m", "falco_coverage", "report"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(Path("reports") / "index.html")
    tmp_path = work
    assert "[2/4] mistagged:" in r.stderr and "compare: skipped" in r.stderr and "observed: skipped" in r.stderr and "EXAMPLE" in r.stderr
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "data/examples" in index and "ATT&amp;CK 19.1" in index
    mistagged = (tmp_path / "reports" / "mistagged_rules.html").read_text()
    assert "revoked-technique" in mistagged and "T1070.006" in mistagged


def test_compare_report_shows_where_defense_evasion_went(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = run_report({"rules": [str(shared_path("falco-rules", "main", n)) for n in UPSTREAM],
                         "attack": str(shared_path("attack", "enterprise-attack-19.1.json")),
                         "compare_attack_version": "18.1"}, out_dir=out, notebooks=["compare"], progress=False)
    assert result.failed == [], [r.error for r in result.failed]
    dom = dump_dom(out / "compare.html")
    assert "Where the techniques of retired tactics went" in dom
    assert "defense-impairment" in dom and "144" in dom and "ATT&amp;CK before" in dom and "18.1" in dom
    assert len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom)) == 2  # change bars and the split


def test_report_bad_input_exit_2(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "falco_coverage", "report", str(tmp_path / "missing.yaml"),
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such rules file" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "falco_coverage", "report", "--notebooks", "nope",
                        "--attack", str(shared_path("attack", "enterprise-attack-18.1.json")),
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown notebook(s) nope" in r.stderr


#: text that must never show on a page: missing values printed raw, absolute paths
_RAW = re.compile(r"\b(NaN|None|nan)\b|(?<![\w.])/(home|tmp|work|root|usr|etc|var)/")


def test_pages_read_well_at_1400_px_offline(upstream_reports: Path, tmp_path: Path) -> None:
    pages = sorted(upstream_reports.glob("*.html"))
    assert [p.name for p in pages] == ["compare.html", "coverage.html", "index.html", "mistagged_rules.html",
                                       "observed.html"]
    seen = inspect_pages(pages, tmp_path)
    for name, page in seen.items():
        assert page["external"] == [], (name, page["external"])  # nothing but file: requests
        assert page["uploads"] == 0, name  # no cloud "Share chart", no edit link, no plotly logo
        if FIGURES.get(name):
            assert page["modebar_buttons"], name  # the check above looks at real modebars
        assert page["scroll_width"] <= 1400, (name, page["scroll_width"])
        assert page["outside"] == [], (name, page["outside"])  # every matrix column and tick in the window
        title = str(page["title"])
        assert title and "Notebook" not in title, (name, title)
        raw = _RAW.search(str(page["text"]))
        assert raw is None, (name, raw.group(0) if raw else None)
        assert Path(str(page["screenshot"])).stat().st_size > 10_000
    assert "Mis-tagged rules" in str(seen["mistagged_rules.html"]["title"])
    narrow = inspect_pages([upstream_reports / "coverage.html"], tmp_path, width=1000)["coverage.html"]
    assert narrow["scroll_width"] <= 1000 and narrow["outside"] == []  # the matrix fits a 1000 px window too
    index = str(seen["index.html"]["text"])
    assert "techniques detected" in index and "Top gaps" in index and "rules in scope" in index
    for name in ("coverage.html", "mistagged_rules.html", "compare.html", "observed.html"):
        assert "all reports" in str(seen[name]["text"]), name  # the link back to the index
    observed_text = str(seen["observed.html"]["text"])
    assert "Terminal shell in container" in observed_text and "silent rules" in observed_text


def test_default_bundle_is_small_and_keeps_no_notebooks(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = run_report({"rules": [str(shared_path("falco-rules", "main", n)) for n in UPSTREAM],
                         "attack": str(shared_path("attack", "enterprise-attack-18.1.json"))}, out_dir=out,
                        progress=False)
    assert result.failed == []
    assert not (out / "notebooks").exists()
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total <= MAX_BUNDLE, total


def test_empty_results_say_so(tmp_path: Path) -> None:
    rules = tmp_path / "clean.yaml"
    rules.write_text("- rule: Shell\n  desc: a shell\n  condition: evt.type = execve and proc.name = bash\n"
                     "  output: shell %proc.name\n  priority: WARNING\n  tags: [mitre_execution, T1059.004]\n")
    out = tmp_path / "reports"
    result = run_report({"rules": [str(rules)], "attack": str(shared_path("attack", "enterprise-attack-18.1.json"))},
                        out_dir=out, notebooks=["mistagged"], progress=False)
    assert result.failed == []
    text = str(inspect_pages([out / "mistagged_rules.html"], tmp_path)["mistagged_rules.html"]["text"])
    assert "No tag findings" in text and "No lint findings" in text and "Nothing to fix" in text
