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
# # What fired
#
# Falco's alerts (or its rule-match counters) joined to the rule set: which rules fire, which never
# do, which drown the others, and which ATT&CK techniques were actually seen.

# %% tags=["parameters"]
# What to analyse (a falco_coverage.request.Request as a dict); the report runner replaces it whole.
request = {
    "rules": [],  # rule files or directories in load order; empty: /etc/falco's rules, else the example set
    "base": [],  # files loaded first (upstream's): findings and "own" cover only the others
    "attack_version": None,  # None: the built-in release; or "attack": a STIX bundle path
    "scope": {"platforms": None, "maturities": None, "min_priority": None, "sources": None, "sensors": None,
              "include_disabled": False},
    "config": None,  # .falco-coverage.yaml or pyproject.toml; None: the one in this folder, if any
    "alerts": [],  # Falco JSON alerts, falcosidekick (webhook, Elasticsearch, Loki) or Prometheus text
    "since": None,  # e.g. "2026-11-01"; None: everything in the files
    "until": None,
}

# %%
from falco_coverage import plots
from falco_coverage.analysis.observed import observed_techniques, timeline
from falco_coverage.analysis.session import Session
from falco_coverage.present.notebook import header, numbers, print_notes, setup_notebook, table

setup_notebook()
session = Session(request)
ruleset, attack_data, cov = session.ruleset, session.attack, session.coverage()
seen, obs = session.alerts(), session.observed()
fired = observed_techniques(cov, obs)
header("What fired", ruleset, attack_data, cov)
print_notes(ruleset, cov, session.example)

# %% [markdown]
# ## Headline numbers

# %%
counts = obs.summary()
numbers({"fires": f"{counts['fires']:,}", "rules that fired": f"{counts['rules_fired']} / {counts['rules']}",
         "fired, not in the rule set": str(counts["unknown"]),
         "silent rules": str(counts["silent"]), "noisy rules": str(counts["noisy"]),
         "techniques seen firing": f"{int(fired['fired'].sum())} / {len(fired)}",
         "unreadable lines": str(len(seen.problems))})

# %% [markdown]
# ## The matrix by what fired
# Each cell is a technique on a platform in scope; its colour is how often the rules tagging it fired.

# %%
plots.fires_matrix(cov, dict(zip(fired["technique_id"], fired["fires"]))).show()

# %% [markdown]
# ## Fired, silent, observable
# Per tactic: techniques whose rules fired, detected by a rule that stayed silent, observable by the
# sensors but not detected, partly observable, and not observable.

# %%
plots.view_bars(cov, fired).show()

# %% [markdown]
# ## Over time
# Alerts per hour and tactic (counter samples have no time per alert and are left out).

# %%
plots.alerts_timeline(timeline(seen.alerts, obs, attack_data), list(cov.tactic_names.values())).show()

# %% [markdown]
# ## Per rule
# Fires in the window, first and last seen, how many hosts; rules not in the rule set carry their alerts' tags.

# %%
fired_rules = obs.rules[obs.rules["fires"] > 0]
table(fired_rules.assign(hosts=fired_rules["hosts"].map(len))[
      ["rule", "fires", "share", "first_seen", "last_seen", "hosts", "in_ruleset"]],
      percent=("share",), empty="No rule fired in the window.")

# %% [markdown]
# ## Silent rules
# Enabled rules in scope that never fired: dead, broken, or simply quiet. Each one claims coverage.

# %%
table(obs.silent[["rule", "source", "tags"]], empty="Every enabled rule fired.")

# %% [markdown]
# ## Noisy rules
# Rules with a large share of all fires: the noise that buries real detections.

# %%
table(obs.noisy.assign(hosts=obs.noisy["hosts"].map(len))[["rule", "fires", "share", "hosts"]], percent=("share",),
      empty="No rule dominates.")

# %% [markdown]
# ## Lines that could not be read

# %%
table(seen.problems.head(200), empty="Every line was read.")
