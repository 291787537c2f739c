# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Mis-tagged rules
#
# ATT&CK tag findings on the rules as Falco resolves them (append and override applied, disabled
# rules included), each with the file and line where the tag is written and the fix when there is one.

# %% tags=["parameters"]
# What to analyse (a falco_coverage.request.Request as a dict); the report runner replaces it whole.
request = {
    "rules": [],  # rule files or directories in load order; empty: /etc/falco's rules, else the example set
    "base": [],  # files loaded first (upstream's): findings and "own" cover only the others
    "attack_version": None,  # None: the built-in release; or "attack": a STIX bundle path
    "scope": {"platforms": None, "maturities": None, "min_priority": None, "sources": None, "sensors": None,
              "include_disabled": False},
    "config": None,  # .falco-coverage.yaml or pyproject.toml; None: the one in this folder, if any
}

# %%
from falco_coverage import fix
from falco_coverage.analysis.tags.load_findings import load_findings
from falco_coverage.analysis.session import Session
from falco_coverage.findings import overview
from falco_coverage.present.notebook import header, print_notes, rules_root, setup_notebook, table, where

setup_notebook()
session = Session(request)
ruleset, attack_data = session.ruleset, session.attack
header("Mis-tagged rules", ruleset, attack_data)
print_notes(ruleset, None, session.example)
findings = session.check()
lint_findings = session.lint()
root = rules_root(ruleset)

# %% [markdown]
# ## Findings by severity and code

# %%
table(overview(findings).reset_index(), empty="No tag findings.")

# %% [markdown]
# ## Every finding, errors first
# `where` is the file and line where the tag is written; `suggestion` is the corrected or missing tag.

# %%
table(where(findings).sort_values(["severity", "rule"])[
    ["severity", "rule", "code", "tag", "message", "suggestion", "where", "enabled"]], root=root,
    empty="No tag findings: every ATT&CK tag is valid for this release.")

# %% [markdown]
# ## The fixes `falco-coverage fix --write` would apply
# Only the unambiguous fixes; every other byte of the files stays as it is.

# %%
edits = fix.plan(findings, ruleset)
print(fix.unified_diff(fix.apply(edits, write=False), base=root) or "Nothing to fix.")

# %% [markdown]
# ## Condition lint
# Broken or risky conditions, at `file:line:column`: parse errors, undefined macros, macro loops,
# rules that match every event type, long inline lists that should be named lists.

# %%
table(where(lint_findings).sort_values(["severity", "rule"])[
    ["severity", "rule", "code", "message", "suggestion", "where"]], root=root, empty="No lint findings.")

# %% [markdown]
# ## Rule-loading diagnostics
# What Falco itself would report when loading these files (errors stop Falco from starting).

# %%
table(where(load_findings(ruleset, config=session.config)).sort_values("severity")[
    ["severity", "rule", "code", "message", "where"]], root=root, empty="Falco loads these files without a word.")
