"""What actually fires: alerts joined to the rule set, per rule and per technique.

Alerts join the loaded rule set by rule name (a metrics snapshot's ``_``-for-blank names too). A rule's
ATT&CK tags come from the rule set, which is current; an alert's own tags are used only for rules the
set does not have, and such rows are flagged (``in_ruleset`` False). Counter samples count the
increase of each (host, rule) series over the window (a counter that drops restarted: its new value
is the increase); a single sample counts its value.
Column meanings: :mod:`falco_coverage.columns` (``observed.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..attack import AttackData
from ..columns import conform
from ..alerts.shapes import metric_name
from ..rules import RuleSet
from .coverage.compute import STATES, Coverage


@dataclass
class Observed:
    """Per rule: fires in the window; silent rules; noisy rules; alerts of rules not in the set."""

    rules: pd.DataFrame
    #: enabled rules in scope with no fire in the window
    silent: pd.DataFrame
    #: rules whose share of all fires is at least ``noisy_share``, most first
    noisy: pd.DataFrame
    #: fires of rules the rule set does not have
    unknown: pd.DataFrame

    def summary(self) -> dict[str, int]:
        """Headline counts: fires; rules of the set that could fire (enabled, or fired anyway) and how
        many fired; rules not in the set that fired; silent and noisy rules."""
        fired, in_set = self.rules["fires"] > 0, self.rules["in_ruleset"]
        return {"fires": int(self.rules["fires"].sum()),
                "rules": int((in_set & (self.rules["enabled"].astype(bool) | fired)).sum()),
                "rules_fired": int((fired & in_set).sum()), "unknown": int((fired & ~in_set).sum()),
                "silent": len(self.silent), "noisy": len(self.noisy)}


def _fires(alerts: pd.DataFrame) -> pd.DataFrame:
    """One row per (rule, host) series: fires, first and last seen."""
    plain = alerts[alerts["kind"] == "alert"]
    # grouping on codes: a million text values are factorized once, not per aggregation
    plain = plain.assign(rule=plain["rule"].astype("category"), hostname=plain["hostname"].astype("category"))
    a = plain.groupby(["rule", "hostname"], dropna=False, observed=True).agg(
        fires=("count", "sum"), first_seen=("time", "min"), last_seen=("time", "max")).reset_index()
    a = a.astype({"rule": object, "hostname": object})
    c = _counter_fires(alerts[alerts["kind"] == "counter"])
    return pd.concat([a, c], ignore_index=True) if len(c) else a


def _counter_fires(counters: pd.DataFrame) -> pd.DataFrame:
    """Fires per counter series (input file, rule, host): the sum of its increases in time order (a drop
    is a restart, whose new value is the increase); a series of one sample counts its value. The same
    sample seen twice in one input (a scrape pasted twice) counts once; two inputs (two nodes' scrapes,
    whose ``/metrics`` name no host) are two series."""
    import numpy as np

    keys = ["file", "rule", "hostname"]  # one series per input and labels: never merged across inputs
    c = counters[keys + ["time", "count"]].astype({"file": "category", "rule": "category", "hostname": "category"})
    c = c.drop_duplicates().sort_values(keys + ["time"], kind="stable", na_position="first")
    if c.empty:
        return pd.DataFrame(columns=["rule", "hostname", "fires", "first_seen", "last_seen"])
    groups = c.groupby(keys, dropna=False, observed=True, sort=False)
    count = c["count"].to_numpy()
    prev = groups["count"].shift(1).to_numpy(dtype=float)
    first = np.isnan(prev)
    step = np.where(first, 0, np.where(count >= prev, count - np.nan_to_num(prev), count)).astype(np.int64)
    out = c.assign(step=step, single=groups["count"].transform("size").to_numpy() == 1)
    out = out.groupby(keys, dropna=False, observed=True, sort=False).agg(
        fires=("step", "sum"), first=("count", "first"), single=("single", "first"),
        first_seen=("time", "min"), last_seen=("time", "max")).reset_index()
    out["fires"] = np.where(out["single"], out["first"], out["fires"]).astype(np.int64)
    out = out.astype({"rule": object, "hostname": object})
    return out[["rule", "hostname", "fires", "first_seen", "last_seen"]]


def observed(ruleset: RuleSet, alerts: pd.DataFrame, *, noisy_share: float = 0.1,
             enabled_only: bool = True) -> Observed:
    """Join ``alerts`` (from :func:`falco_coverage.alerts.load_alerts`) to ``ruleset`` by rule name."""
    from ..alerts.rows import resting_gc

    with resting_gc():
        return _observed(ruleset, alerts, noisy_share, enabled_only)


def _observed(ruleset: RuleSet, alerts: pd.DataFrame, noisy_share: float, enabled_only: bool) -> Observed:
    rules = ruleset.rules
    names = set(rules["name"])
    # metrics write a rule's name as a metric name (Falco's own rewriting); a name two rules share is left alone
    by_metric: dict[str, list[str]] = {}
    for n in sorted(names):
        by_metric.setdefault(metric_name(n), []).append(n)
    underscored = {k: v[0] for k, v in by_metric.items() if len(v) == 1}
    series = _fires(alerts)
    series["rule"] = series["rule"].map(lambda r: r if r in names else underscored.get(r, r))
    per = series.groupby("rule").agg(fires=("fires", "sum"), first_seen=("first_seen", "min"),
                                      last_seen=("last_seen", "max"),
                                      hosts=("hostname", lambda h: sorted({x for x in h if isinstance(x, str)})))
    total = int(per["fires"].sum()) if len(per) else 0
    base = rules[["name", "enabled", "source", "tags"]].rename(columns={"name": "rule"})
    known = base.merge(per, left_on="rule", right_index=True, how="left")
    known["fires"] = known["fires"].fillna(0).astype("int64")
    known["hosts"] = known["hosts"].map(lambda v: v if isinstance(v, list) else [])
    known["in_ruleset"] = True
    extra = per[~per.index.isin(names)].reset_index()
    own_tags = (alerts.groupby("rule")["tags"].first() if len(alerts) else pd.Series(dtype=object))
    extra = extra.assign(enabled=True, source=None, in_ruleset=False,
                         tags=extra["rule"].map(lambda r: list(own_tags.get(r, []) or [])))
    out = pd.concat([known, extra], ignore_index=True) if len(extra) else known
    out["share"] = out["fires"] / total if total else 0.0
    out = conform(out.sort_values(["fires", "rule"], ascending=[False, True], kind="stable", ignore_index=True),
                  "observed.rules")
    in_set = out[out["in_ruleset"]]
    silent = in_set[(in_set["fires"] == 0) & (in_set["enabled"] | (not enabled_only))].reset_index(drop=True)
    noisy = out[(out["share"] >= noisy_share) & (out["fires"] > 0)].reset_index(drop=True)
    unknown = out[~out["in_ruleset"]].reset_index(drop=True)
    return Observed(out, silent, noisy, unknown)


def observed_techniques(cov: Coverage, obs: Observed) -> pd.DataFrame:
    """Per applicable top-level technique of ``cov``: its coverage state (detected / observable / not
    observable, when the release has a detection model) and what fired: the four-way view. A rule's
    fires count for every technique it tags (a sub-technique's for its parent too)."""
    from ..rules.tags import parse_attack_tag

    fires: dict[str, int] = {}
    fired_rules: dict[str, list[str]] = {}
    for rule, tags, n in zip(obs.rules["rule"], obs.rules["tags"], obs.rules["fires"]):
        if not n:
            continue
        ids = {p.value for p in map(parse_attack_tag, tags) if p and p.kind == "technique"}
        for tid in ids | {t.split(".")[0] for t in ids}:
            fires[tid] = fires.get(tid, 0) + int(n)
            fired_rules.setdefault(tid, []).append(rule)
    top = cov.techniques[cov.techniques["parent_id"].isna()].drop_duplicates("technique_id")
    out = pd.DataFrame({
        "technique_id": top["technique_id"].to_numpy(), "name": top["name"].to_numpy(),
        "tactic": top["tactic"].astype(str).to_numpy(), "state": top["state"].astype(object).to_numpy(),
        "detected": top["covered"].to_numpy(),
    })
    out["fires"] = out["technique_id"].map(fires).fillna(0).astype("int64")
    out["fired"] = out["fires"] > 0
    out["rules_fired"] = out["technique_id"].map(lambda t: sorted(set(fired_rules.get(t, []))))
    out["view"] = [("fired" if f else "detected, silent") if d else (str(s) if isinstance(s, str) else "not detected")
                   for d, f, s in zip(out["detected"], out["fired"], out["state"])]
    out["view"] = pd.Categorical(out["view"], categories=list(VIEWS), ordered=True)
    out["state"] = pd.Categorical(out["state"], categories=list(STATES), ordered=True)
    return conform(out.sort_values(["fires", "technique_id"], ascending=[False, True], kind="stable",
                                   ignore_index=True), "observed.techniques")


#: the four-way view, from what a rule proves to what needs another sensor
VIEWS = ("fired", "detected, silent", "observable", "partly observable", "not observable", "not detected")


def timeline(alerts: pd.DataFrame, obs: Observed, attack: AttackData, freq: str = "h") -> pd.DataFrame:
    """Alerts per time bucket (``freq``, a pandas frequency) and tactic (display name): a rule's alerts
    count for each tactic its technique tags belong to in ``attack``. Counter samples have no per-alert
    time and are left out. Columns: time, tactic, alerts."""
    from ..rules.tags import parse_attack_tag

    names_of = attack.tactic_names()
    tactic_of = {t: [names_of.get(x, x) for x in ts]
                 for t, ts in zip(attack.techniques["technique_id"], attack.techniques["tactics"])}

    plain = alerts[(alerts["kind"] == "alert") & alerts["time"].notna()]
    names = set(obs.rules["rule"])
    # metrics write a rule's name as a metric name (Falco's own rewriting); a name two rules share is left alone
    by_metric: dict[str, list[str]] = {}
    for n in sorted(names):
        by_metric.setdefault(metric_name(n), []).append(n)
    underscored = {k: v[0] for k, v in by_metric.items() if len(v) == 1}
    tactics: dict[str, list[str]] = {}
    for rule, tags in zip(obs.rules["rule"], obs.rules["tags"]):
        found: dict[str, None] = {}
        for p in map(parse_attack_tag, tags):
            if p and p.kind == "technique":
                found.update(dict.fromkeys(tactic_of.get(p.value, [])))
        tactics[rule] = list(found) or ["(no ATT&CK tactic)"]
    rule = plain["rule"].map(lambda r: r if r in names else underscored.get(r, r))
    frame = pd.DataFrame({"time": plain["time"].dt.floor(freq), "tactic": rule.map(lambda r: tactics.get(r, ["(no ATT&CK tactic)"]))})
    frame = frame.explode("tactic")
    out = frame.groupby(["time", "tactic"], observed=True).size().rename("alerts").reset_index()
    return out.astype({"alerts": "int64"})
