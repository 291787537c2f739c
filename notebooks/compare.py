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
rules = []  # the rule set (the "after" side when comparing rule sets)
base_rules = []  # files loaded first under both rule sets (e.g. upstream rules)
compare_rules = None  # the other rule set (the "before" side)
falco_version = None  # the Falco release fields are checked against; None: the built-in catalogue's
attack = None
attack_version = None
compare_attack = None  # another ATT&CK release (the "before" side) for the same rules
compare_attack_version = None
platforms = None  # the coverage scope, the same on both sides
maturities = None
min_priority = None
sources = None
sensors = None  # Falco event sources you run; None: the rules' sources
include_disabled = False
config = None
example_rules = False
output_dir = "."

# %%
from falco_coverage import load_attack, load_rules, plots
from falco_coverage.analysis.compare import attack_drift, tactic_change, tactic_moves, technique_change
from falco_coverage.analysis.coverage import coverage
from falco_coverage.config import load_config
from falco_coverage.present.notebook import header, numbers, print_notes, rules_root, setup_notebook, table
from falco_coverage.rules.paths import resolve_rules

setup_notebook()
ruleset = load_rules(*resolve_rules(rules), base=base_rules, falco_version=falco_version)
attack_new = load_attack(attack, version=attack_version)
if compare_rules:
    other_rules = load_rules(*compare_rules, base=base_rules, falco_version=falco_version)
    attack_old = attack_new
elif compare_attack or compare_attack_version:
    other_rules, attack_old = ruleset, load_attack(compare_attack, version=compare_attack_version)
else:
    raise ValueError("nothing to compare: set compare_rules, compare_attack or compare_attack_version")
scope = dict(platforms=platforms, maturities=maturities, min_priority=min_priority, sources=sources,
             enabled_only=not include_disabled, source_platforms=load_config(config).source_platforms,
             sensors=sensors, sensor_profile=load_config(config).sensors)
before = coverage(other_rules, attack_old, **scope)
after = coverage(ruleset, attack_new, **scope)
header("Before and after", ruleset, attack_new, after)
print_notes(ruleset, after, example_rules)

# %% [markdown]
# ## What is compared
# BEFORE is the other rule set (`compare_rules`) or the older release (`compare_attack`); AFTER is
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
