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
# # Comparison
#
# Two rule sets under one ATT&CK release, or one rule set under two ATT&CK releases: techniques
# gained and lost, coverage change per tactic, and the tags that go wrong when ATT&CK moves.

# %% tags=["parameters"]
# What to analyse (a falco_coverage.request.Request as a dict); the report runner replaces it whole.
request = {
    "rules": [],  # rule files or directories in load order; empty: /etc/falco's rules, else the example set
    "base": [],  # files loaded first (upstream's): findings and "own" cover only the others
    "attack_version": None,  # None: the built-in release; or "attack": a STIX bundle path
    "scope": {"platforms": None, "maturities": None, "min_priority": None, "sources": None, "sensors": None,
              "include_disabled": False},
    "config": None,  # .falco-coverage.yaml or pyproject.toml; None: the one in this folder, if any
    # the other side (BEFORE): another rule set, and/or another ATT&CK release for the same rules
    "compare_rules": [],
    "compare_attack_version": None,  # or "compare_attack": a STIX bundle path
}

# %%
from falco_coverage import plots
from falco_coverage.analysis.coverage.compare import attack_drift, tactic_change, tactic_moves, technique_change
from falco_coverage.analysis.session import Session
from falco_coverage.present.notebook import header, numbers, print_notes, rules_root, setup_notebook, table

setup_notebook()
session = Session(request)
earlier = session.compare_side()  # raises, naming what to set, when the request compares nothing
ruleset, attack_new, other_rules, attack_old = session.ruleset, session.attack, earlier.ruleset, earlier.attack
before, after = earlier.coverage(), session.coverage()
header("Before and after", ruleset, attack_new, after)
print_notes(ruleset, after, session.example)

# %% [markdown]
# ## What is compared
# BEFORE is the other rule set (`compare_rules`) or the older release (`compare_attack_version`); AFTER is
# `rules` under `attack`.

# %%
b, a = before.summary(), after.summary()
numbers({"before": f"{b['covered']} / {b['applicable']} ({b['coverage']:.0%})",
         "after": f"{a['covered']} / {a['applicable']} ({a['coverage']:.0%})",
         "ATT&CK before": attack_old.version or "?", "ATT&CK after": attack_new.version or "?"})

# %% [markdown]
# ## Coverage change per tactic

# %%
changes = tactic_change(before, after)
plots.change_bars(changes, title="Covered techniques per tactic, before and after").show()

# %%
table(changes, percent=("coverage_before", "coverage_after"), empty="No tactic on either side.")

# %% [markdown]
# ## Techniques gained and lost

# %%
table(technique_change(before, after), empty="The same techniques are covered on both sides.")

# %% [markdown]
# ## Where retired tactics went
# Tactics are matched by ID; a tactic the newer release no longer has, and where its techniques went.

# %%
moves = tactic_moves(attack_old, attack_new)
if len(moves):
    plots.moves_bars(moves).show()
table(moves, empty="No tactic was retired between the two releases.")

# %% [markdown]
# ## Tags that go wrong when ATT&CK moves
# Every tag that was valid in the older release and means something else in the newer one:
# techniques revoked, deprecated, removed or under other tactics, tactic tags retired, tactic IDs
# renamed.

# %%
table(attack_drift(ruleset, attack_old, attack_new), root=rules_root(ruleset),
      empty="No tag changes meaning between the two releases.")
