# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # ATT&CK coverage of Falco rules
#
# Which MITRE ATT&CK techniques the rules detect, per tactic, and the most-used techniques no rule
# covers. Only valid tags of active techniques count; a sub-technique tag also covers its parent.

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
output_dir = None  # where the report runner writes the Navigator layers; None: nowhere (Lab)

# %%
from pathlib import Path

from falco_coverage import plots
from falco_coverage.analysis.session import Session
from falco_coverage.analysis.suggest import coverage_suggestions
from falco_coverage.present.layers import to_navigator
from falco_coverage.present.notebook import header, numbers, observable_gaps, print_notes, setup_notebook, table

setup_notebook()
session = Session(request)
ruleset, attack_data, cov = session.ruleset, session.attack, session.coverage()
header("ATT&CK coverage of Falco rules", ruleset, attack_data, cov)
print_notes(ruleset, cov, session.example)

# %% [markdown]
# ## Headline numbers

# %%
s = cov.summary()
numbers({"techniques detected": f"{s['covered']} / {s['applicable']}", "coverage": f"{s['coverage']:.0%}",
         **({"observable, not detected": str(s["observable"]), "partly observable": str(s["partly_observable"])}
            if cov.has_observability else {}),
         "rules in scope": str(s["rules"]), "load errors": str(len(ruleset.own_errors))})

# %% [markdown]
# ## The matrix
# Each cell is a technique on a platform in scope; its colour is the number of rules that detect it
# (grey: none). Hover a cell for the rules and the sub-techniques they cover.

# %%
plots.rules_matrix(cov).show()

# %% [markdown]
# ## What Falco can see
# The same matrix by what a new rule could achieve. Blue: a rule detects it. Orange: not detected,
# and one of ATT&CK's analytics for it reads only telemetry the sensors in scope collect: a new rule
# pays off. Yellow: partly observable, the sensors give part of what its analytics need. Grey: not
# observable, another sensor is needed. Hover a cell for how observable it is, by which sensor, and
# what is missing.

# %%
if cov.has_observability:
    plots.state_matrix(cov).show()
    plots.state_bars(cov).show()
else:
    print(f"{attack_data.describe()} has no detection model: see the note at the top.")

# %% [markdown]
# ## Coverage per tactic
# Covered techniques out of those that apply to the platforms in scope.

# %%
plots.tactic_bars(cov).show()

# %% [markdown]
# ## Rules per tactic by maturity and by priority

# %%
plots.breakdown(cov, "maturity").show()

# %%
plots.breakdown(cov, "priority").show()

# %% [markdown]
# Your own rules and those of the base (upstream) files, when some were loaded as the base.

# %%
plots.breakdown(cov, "origin").show()

# %% [markdown]
# ## Rules that carry only tactic tags
# They name a tactic but no technique, so they cover nothing in the matrix above.

# %%
table(cov.tactic_only.groupby("tactic", observed=True)["rule"].nunique().rename("rules").reset_index(),
      empty="No rule carries only tactic tags.")

# %% [markdown]
# ## Suggested tags (suggestions, not coverage)
# For each rule in scope with no technique tag, the technique falco-coverage would suggest, with its
# score and why. Only "confident" suggestions are what `check` shows and `fix --suggest` writes. Nothing
# here is counted above: the per-tactic table says what the confident ones *would* add.

# %%
suggested, would_add = coverage_suggestions(cov, ruleset, attack_data, session.config.source_platforms)
numbers({"rules with no technique tag": str(suggested["rule"].nunique()),
         "confident suggestions": str(int(suggested["confident"].sum())),
         "techniques they would add (not counted)": str(int(would_add["would_add"].sum()))})
table(suggested[["rule", "technique_id", "name", "tactics", "score", "confident", "evidence"]],
      empty="Every rule in scope has a technique tag, or nothing to suggest.",
      titles={"technique_id": "suggested", "name": "technique"})

# %%
table(would_add[would_add["would_add"] > 0], empty="The confident suggestions add no technique to the coverage.",
      titles={"applicable": "applicable", "covered": "covered now", "would_add": "would add (suggested)"})

# %% [markdown]
# ## Top gaps
# The undetected techniques that the most threat groups use. With ATT&CK's detection model they come
# in two lists: those the sensors can observe in full or in part (a new rule pays off, with ATT&CK's
# detection strategy for each), then those that need another sensor (and what it would have to record).

# %%
if cov.has_observability:
    table(observable_gaps(cov), empty="None: every observable technique is detected.",
          titles={"technique_id": "ID", "strategy_ids": "detection strategy", "n_groups": "groups",
                  "data_components": "what the sensors record"})
else:
    table(cov.gaps[["technique_id", "name", "tactics", "n_groups", "n_software", "n_subtechniques"]],
          empty="No gaps: every applicable technique is covered.",
          titles={"technique_id": "ID", "n_groups": "groups", "n_software": "software",
                  "n_subtechniques": "sub-techniques"})

# %% [markdown]
# Not observable by the sensors in scope: another sensor would have to record what `needs` lists.

# %%
if cov.has_observability:
    table(observable_gaps(cov, observable=False), empty="None: the sensors can observe every gap.",
          titles={"technique_id": "ID", "strategy_ids": "detection strategy", "n_groups": "groups",
                  "missing": "needs"})

# %% [markdown]
# ## Per tactic, as a table

# %%
table(cov.tactics[["tactic_id", "name", "applicable", "covered", "coverage", "n_rules"]
                 + (["observable", "partly_observable", "not_observable"] if cov.has_observability else [])],
      percent=("coverage",), titles={"tactic_id": "ID", "n_rules": "rules", "observable": "observable, not detected"})

# %% [markdown]
# ## Navigator layer
# Written beside this report as `coverage-layer.json` (in JupyterLab: only where `output_dir` says):
# open it at https://mitre-attack.github.io/attack-navigator/ with "Open Existing Layer" → "Upload from local".

# %%
layer = to_navigator(cov, "Falco rules coverage", Path(output_dir) / "coverage-layer.json" if output_dir else None)
numbers({"technique cells in the layer": str(len(layer["techniques"]))})

# %% [markdown]
# With ATT&CK's detection model, `coverage-states-layer.json` colours every technique by its state
# (detected, observable, partly observable, not observable) the same way as the matrix above.

# %%
if cov.has_observability:
    states = to_navigator(cov, "Falco rules: detected, observable, partly, not observable",
                          Path(output_dir) / "coverage-states-layer.json" if output_dir else None, states=True)
    numbers({"technique cells in the states layer": str(len(states["techniques"]))})
