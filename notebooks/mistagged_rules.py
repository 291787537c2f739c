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
rules = []  # rule files or directories, in load order; empty: installed Falco rules or the example
base_rules = []  # files loaded first (e.g. upstream rules); only findings in `rules` are shown
falco_version = None  # the Falco release fields are checked against; None: the built-in catalogue's
attack = None
attack_version = None
config = None  # a .falco-coverage.yaml or pyproject.toml; None: the defaults
example_rules = False  # set by the report runner when it fell back to the example rule set
output_dir = "."

# %%
from falco_coverage import fix, load_attack, load_rules
from falco_coverage.analysis.checks import check
from falco_coverage.analysis.lint import lint
from falco_coverage.analysis.load_findings import load_findings
from falco_coverage.findings import overview
from falco_coverage.present.notebook import header, print_notes, rules_root, setup_notebook, table, where
from falco_coverage.rules.paths import resolve_rules

setup_notebook()
ruleset = load_rules(*resolve_rules(rules), base=base_rules, falco_version=falco_version)
attack_data = load_attack(attack, version=attack_version)
header("Mis-tagged rules", ruleset, attack_data)
print_notes(ruleset, None, example_rules)
findings = check(ruleset, attack_data, config=config)
lint_findings = lint(ruleset, config=config)
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
table(where(load_findings(ruleset, config=config)).sort_values("severity")[
    ["severity", "rule", "code", "message", "where"]], root=root, empty="Falco loads these files without a word.")
