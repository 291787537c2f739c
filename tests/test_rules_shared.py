"""Integration: the real Falco rule files in ../shared/data load as the spec says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from falco_coverage import load_rules

from .conftest import shared_names, shared_path

UPSTREAM = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
PLUGIN_SOURCES = {
    "aws_cloudtrail_rules.yaml": "aws_cloudtrail", "gcp_auditlog_rules.yaml": "gcp_auditlog",
    "github.yaml": "github", "k8s_audit_rules.yaml": "k8s_audit", "okta_rules.yaml": "okta",
}


def main_file(name: str) -> Path:
    return shared_path("falco-rules", "main", name)


def test_three_upstream_files_give_93_rules() -> None:
    rs = load_rules(*(main_file(n) for n in UPSTREAM))
    assert len(rs.rules) == 93
    assert rs.lists.set_index("name").loc["python_package_managers", "items"] == ["pip", "pip3", "conda"]
    assert rs.errors.empty
    assert rs.rules["valid"].all()
    assert rs.rules["name"].is_unique


@pytest.mark.parametrize("name", shared_names("falco-rules", "main"))
def test_each_upstream_file_alone_has_no_errors(name: str) -> None:
    rs = load_rules(main_file(name))
    assert rs.errors.empty, rs.errors.to_string()


@pytest.mark.parametrize(("name", "source"), sorted(PLUGIN_SOURCES.items()))
def test_plugin_rule_files(name: str, source: str) -> None:
    rs = load_rules(shared_path("falco-plugin-rules", name))
    assert rs.errors.empty, rs.errors.to_string()
    assert len(rs.rules) > 0 and set(rs.rules["source"]) == {source}


def test_gke_overrides_after_k8s_audit() -> None:
    base = load_rules(shared_path("falco-plugin-rules", "k8s_audit_rules.yaml"))
    both = load_rules(shared_path("falco-plugin-rules", "k8s_audit_rules.yaml"),
                      shared_path("falco-plugin-rules", "k8s_audit_rules_gke.yaml"))
    assert both.errors.empty
    rule = both.rule("Disallowed K8s User")
    assert rule["source"] == "k8s_audit"
    assert [e["name"] for e in rule["exceptions"]][-1] == "google-container-engine-robot"
    assert "ka.user.name endswith @container-engine-robot.iam.gserviceaccount.com" in rule["compiled_condition"]
    assert str(rule["changed_at"][-1]).endswith("k8s_audit_rules_gke.yaml:28")
    before = base.lists.set_index("name")["items"].map(len)
    after = both.lists.set_index("name")["items"].map(len)
    grown = sorted(after[after > before.reindex(after.index, fill_value=0)].index)
    assert grown == sorted(["k8s_audit_privileged_images", "k8s_audit_hostnetwork_images",
                            "k8s_audit_sensitive_mount_images", "user_allowed_kube_namespace_image_list"])
    assert len(both.rules) == len(base.rules)


def test_gke_alone_gives_no_previous_errors() -> None:
    rs = load_rules(shared_path("falco-plugin-rules", "k8s_audit_rules_gke.yaml"))
    assert sorted(rs.errors["sub_code"]) == ["ERROR_NO_PREVIOUS_LIST"] * 4 + ["ERROR_NO_PREVIOUS_RULE_APPEND"]
    assert set(rs.errors["code"]) == {"LOAD_ERR_VALIDATE"}  # Falco's code for all five
    assert rs.rules.empty and rs.lists.empty


@pytest.mark.parametrize("name", shared_names("falco-rules", "releases"))
def test_release_files_load_and_report_constructs(name: str) -> None:
    rs = load_rules(shared_path("falco-rules", "releases", name))
    assert rs.errors.empty, rs.errors.to_string()
    constructs = rs.files.loc[0, "constructs"]
    assert any(c.startswith("required_engine_version") for c in constructs)
    old = name in {"falco_rules-0.1.0.yaml", "falco_rules-1.0.0.yaml", "falco_rules-2.0.0.yaml"}
    assert ("required_engine_version: integer" in constructs) == old


def _all_files() -> list[Path]:
    return sorted(shared_path("falco-rules", "main").glob("*.yaml")) + \
        sorted(p for p in shared_path("falco-plugin-rules").glob("*.yaml") if "gke" not in p.name)


def test_lines_match_the_text_of_every_file() -> None:
    """Independent check: the reported line is the one that starts '- <kind>: <name>' in the file."""
    checked = 0
    for path in _all_files():
        text = path.read_text().splitlines()
        rs = load_rules(path)
        for kind, df in (("rule", rs.rules), ("macro", rs.macros), ("list", rs.lists)):
            for name, line in zip(df["name"], df["line"]):
                # the item starts at `line` ("- key: ...") and names itself on one of its own lines
                # (upstream has an item whose first key is `condition:`, its `macro:` next)
                assert text[line - 1].startswith("- "), (path.name, name, line)
                end = next((i for i in range(line, len(text)) if text[i].startswith("- ")), len(text))
                item = [text[line - 1][2:]] + [t.strip() for t in text[line:end]]
                names = [m.group(1).strip().strip("'\"") for t in item if (m := re.match(rf"{kind}:\s*(.*)$", t))]
                assert names == [name], (path.name, kind, name, line)
                checked += 1
    assert checked > 800  # the loop really ran over the data (870 items at the pinned commits)
