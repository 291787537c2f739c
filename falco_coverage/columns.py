"""Every DataFrame column falco-coverage produces, with its dtype, documented in one place.

``SCHEMAS[frame][column]`` is ``(dtype, description)``; a test checks every frame the package
returns (empty ones included) against it, so this file is the reference for notebook users.

Dtypes: ``str`` is pandas' string dtype; ``object`` columns hold Python lists (or dicts, or
:class:`~falco_coverage.findings.Location` tuples); ``category`` columns are closed sets;
``Int64`` is pandas' nullable integer.

Missing values follow one rule: **test them with** ``pd.isna(value)``. A missing text is NaN
(what pandas' ``str`` dtype holds), a missing ``Int64`` is ``<NA>``, a missing ``object`` value is
``None``. List columns are never missing: "none" is an empty list (the one exception is
``evt_types``, where ``None`` means "every event type", which an empty list could not say).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {
    # --- ATT&CK (falco_coverage.attack.AttackData) ---------------------------------------
    "attack.tactics": {
        "tactic_id": ("str", "ATT&CK tactic ID, e.g. TA0002"),
        "shortname": ("str", "x_mitre_shortname, e.g. execution, privilege-escalation"),
        "name": ("str", "display name, e.g. Privilege Escalation"),
        "url": ("str", "attack.mitre.org page of the tactic"),
        "order": ("int64", "0-based column position in the matrix (the matrix object's tactic_refs)"),
        "deprecated": ("bool", "True when the tactic is deprecated (revoked tactics are left out)"),
    },
    "attack.techniques": {
        "technique_id": ("str", "T1059 or T1059.004; one row per attack-pattern, revoked and deprecated included"),
        "stix_id": ("str", "attack-pattern--<uuid>"),
        "name": ("str", "technique name (sub-techniques: their own name, without the parent's)"),
        "is_subtechnique": ("bool", "True for T####.### entries"),
        "parent_id": ("str", "technique_id of the parent for a sub-technique, else missing"),
        "platforms": ("object", "list of x_mitre_platforms, e.g. ['Linux', 'Containers']"),
        "tactics": ("object", "list of tactic shortnames (kill-chain phases), in matrix order"),
        "revoked": ("bool", "True when the object is revoked"),
        "deprecated": ("bool", "True when x_mitre_deprecated is set"),
        "replaced_by": ("str", "for a revoked technique, the technique_id its revoked-by chain ends at, else missing"),
        "url": ("str", "attack.mitre.org page of the technique"),
        "n_groups": ("int64", "distinct active intrusion sets that use it (directly or through attributed campaigns)"),
        "n_software": ("int64", "distinct active malware and tools that use it"),
        "modified": ("datetime64[us, UTC]", "the object's modified timestamp (UTC)"),
    },
    "attack.technique_tactics": {
        "technique_id": ("str", "an active (neither revoked nor deprecated) technique"),
        "tactic": ("category", "one of its tactic shortnames (ordered categorical in matrix order)"),
    },
    # ATT&CK's detection model (falco_coverage.attack.detection); empty for a bundle without one
    "attack.detection_strategies": {
        "strategy_id": ("str", "DET####, v18 and later"),
        "stix_id": ("str", "x-mitre-detection-strategy--<uuid>"),
        "name": ("str", "strategy name"),
        "technique_ids": ("object", "sorted list of the techniques it detects (its 'detects' relationships)"),
        "analytic_ids": ("object", "list of its analytics (AN####), in the strategy's order"),
        "url": ("str", "attack.mitre.org page of the strategy"),
    },
    "attack.analytics": {
        "analytic_id": ("str", "AN####"),
        "stix_id": ("str", "x-mitre-analytic--<uuid>"),
        "strategy_id": ("str", "the detection strategy listing it"),
        "name": ("str", "analytic name"),
        "platforms": ("object", "list of the ATT&CK platforms it is written for"),
        "description": ("str", "what it looks for, as ATT&CK words it"),
        "url": ("str", "attack.mitre.org anchor of the analytic"),
    },
    "attack.data_components": {
        "data_component_id": ("str", "DC#### (v18 and later; missing before, when components had no ID)"),
        "name": ("str", "component name, e.g. Process Creation: the same across releases"),
        "data_source": ("str", "its data source before v18, e.g. Process (missing from v18 on)"),
        "stix_id": ("str", "x-mitre-data-component--<uuid>"),
    },
    "attack.detections": {
        "technique_id": ("str", "a technique the row helps detect"),
        "strategy_id": ("str", "its detection strategy (DET####); missing before v18"),
        "analytic_id": ("str", "the analytic (AN####); missing before v18"),
        "platforms": ("object", "list of platforms the row applies to: the analytic's (before v18: the technique's)"),
        "data_component": ("str", "data component name the log source records (missing when the analytic names none)"),
        "log_source": ("str", "log source name, e.g. auditd:SYSCALL, kubernetes:audit; missing before v18"),
        "channel": ("str", "what in that log source, e.g. execve, or a sentence; missing before v18"),
    },
    # ATT&CK's own words per technique (falco_coverage.attack.text), what suggestions match rules against
    "attack.technique_text": {
        "technique_id": ("str", "a technique or sub-technique"),
        "description": ("str", "its description, without citations, links or markup"),
        "detection": ("str", "its detection text (x_mitre_detection; releases before v18), else missing"),
        "procedures": ("object", "list of procedure examples (what active groups and software were seen doing "
                       "with it), at most 40, each cut at 300 characters"),
    },
    # --- Falco rules (falco_coverage.rules.RuleSet) --------------------------------------
    "rules.rules": {
        "name": ("str", "rule name"),
        "desc": ("str", "description, after append/override"),
        "condition": ("str", "condition as written, after append/override"),
        "compiled_condition": ("str", "condition with exceptions added and lists substituted (Falco's text form)"),
        "expanded_condition": ("str", "compiled_condition with every macro expanded (missing when it does not parse)"),
        "evt_types": ("object", "sorted list of the event types it can match, as Falco computes them; None when "
                     "unrestricted (all types) or for a non-syscall source"),
        "fields": ("object", "list of the fields its expanded condition reads"),
        "macros_used": ("object", "list of the macros it uses, directly or through other macros"),
        "lists_used": ("object", "list of the lists substituted into it or into the macros it uses"),
        "output": ("str", "output format, after append/override"),
        "priority": ("category", "canonical priority (ordered categorical, Debug < ... < Emergency)"),
        "source": ("str", "event source, e.g. syscall, k8s_audit, aws_cloudtrail"),
        "enabled": ("bool", "whether Falco would load the rule enabled"),
        "warn_evttypes": ("bool", "False when the rule opts out of Falco's too-many-event-types warning"),
        "skip_if_unknown_filter": ("bool", "True when Falco skips the rule (with a warning) rather than fail on an "
                                   "unknown field or event type"),
        "capture": ("bool", "whether Falco captures events around an alert of the rule"),
        "capture_duration": ("int64", "capture length in milliseconds (0: Falco's configured default)"),
        "tags": ("object", "list of tags as written (after override), in written order"),
        "tag_locations": ("object", "list of Location(file, line, column) where each tag of ``tags`` is written (same order)"),
        "maturity": ("str", "maturity_* tag without its prefix (stable, incubating, sandbox, deprecated) or missing"),
        "tactic_tags": ("object", "list of tags of the tactic form: mitre_* or TA####"),
        "technique_tags": ("object", "list of tags of the technique form: T#### or T####.###"),
        "other_tags": ("object", "list of the remaining tags"),
        "exceptions": ("object", "list of exception dicts (name, fields, comps, values) after append/override"),
        "file": ("str", "file of the rule's first definition"),
        "line": ("int64", "1-based line of the rule's first definition"),
        "changed_at": ("object", "list of Location of every item that defined or changed the rule"),
        "valid": ("bool", "False when Falco would reject the rule (see diagnostics)"),
        "origin": ("category", "own (defined or changed in the user's files) or base (only in files loaded as the base)"),
        "ignored_keys": ("object", "list of {key, value, location} for keys Falco ignores (e.g. 'tag:' for 'tags:')"),
    },
    "rules.macros": {
        "name": ("str", "macro name"),
        "condition": ("str", "condition as written, after append/override"),
        "compiled_condition": ("str", "condition with lists substituted"),
        "file": ("str", "file of the first definition"),
        "line": ("int64", "1-based line of the first definition"),
        "changed_at": ("object", "list of Location of every item that defined or changed the macro"),
        "used": ("bool", "referenced by a rule (enabled or not) or by another macro"),
    },
    "rules.lists": {
        "name": ("str", "list name"),
        "items": ("object", "list of items after append/override, with nested lists expanded one level"),
        "file": ("str", "file of the first definition"),
        "line": ("int64", "1-based line of the first definition"),
        "changed_at": ("object", "list of Location of every item that defined or changed the list"),
        "used": ("bool", "substituted into a rule or macro condition, or expanded into another list"),
    },
    "rules.files": {
        "file": ("str", "a rules file, in load order"),
        "loaded": ("bool", "False when the file could not be read as a rules file at all (missing, not YAML, not a list)"),
        "base": ("bool", "True when the file was loaded as the base (upstream) under the user's own"),
        "n_rules": ("int64", "rule items read from it (definitions, appends, overrides, enabled-only)"),
        "n_macros": ("int64", "macro items read from it"),
        "n_lists": ("int64", "list items read from it"),
        "constructs": ("object", "sorted list of Falco-version-specific constructs it uses (override, append: true, ...)"),
    },
    "rules.diagnostics": {
        "severity": ("category", "error, warning or info (categorical)"),
        "code": ("str", "Falco's own code, e.g. LOAD_ERR_YAML_PARSE, LOAD_ERR_VALIDATE, LOAD_UNUSED_LIST (ours are "
                 "lower case: duplicate-definition, condition-too-large, schema, unchecked-source)"),
        "sub_code": ("str", "the finer reason under ``code``, e.g. ERROR_NO_PREVIOUS_MACRO or ERROR_UNDEFINED_MACRO "
                     "under LOAD_ERR_VALIDATE; equal to ``code`` when there is none. Findings use it as their code"),
        "message": ("str", "one sentence"),
        "item": ("str", "the rule/macro/list name concerned, or missing"),
        "kind": ("category", "rule, macro or list: what ``item`` names (missing when there is no item)"),
        "file": ("str", "file at fault"),
        "line": ("int64", "1-based line at fault (0 when unknown)"),
    },
    # --- suggestions (falco_coverage.analysis.suggest) ------------------------------------
    "suggest.suggestions": {
        "rule": ("str", "rule name"),
        "rank": ("int64", "1 for the best suggestion of the rule"),
        "technique_id": ("str", "suggested technique or sub-technique (active in the release used)"),
        "name": ("str", "its name"),
        "tactics": ("object", "list of its tactic shortnames (its own kill-chain phases, matrix order)"),
        "score": ("float64", "the ranker's probability that the rule is about it (0 to 1)"),
        "confident": ("bool", "True for a rule's first suggestion when the score reaches the confidence "
                      "threshold and the rule's source maps to ATT&CK platforms"),
        "evidence": ("object", "list of sentences: the similar tagged rules that carry it, the rule's words "
                     "found in its ATT&CK name, description, analytics or procedure examples"),
    },
    # --- coverage (falco_coverage.analysis.coverage) ----------------------------------------
    "coverage.techniques": {
        "tactic": ("category", "tactic shortname (ordered categorical, matrix order); a technique has one row per tactic"),
        "technique_id": ("str", "an applicable technique or sub-technique (active, on a platform in scope)"),
        "name": ("str", "technique name"),
        "parent_id": ("str", "the parent technique for a sub-technique, else missing"),
        "n_rules": ("int64", "rules in scope tagging it (a parent: also those tagging one of its sub-techniques)"),
        "rules": ("object", "list of those rule names, sorted"),
        "covered": ("bool", "n_rules > 0"),
        "covered_via": ("str", "direct (the technique is tagged), sub-technique (only a sub-technique is), or missing"),
        "n_groups": ("int64", "threat groups using it (from ATT&CK)"),
        "n_software": ("int64", "software using it (from ATT&CK)"),
        "observable": ("category", "none, partial or full (ordered; see coverage.observability); missing when the "
                       "release has no detection model"),
        "state": ("category", "detected (covered), observable (not covered, observable in full: a new rule pays "
                  "off), partly observable (the sensors give part of what its analytics need) or not observable "
                  "(needs another sensor); missing without a detection model"),
    },
    "coverage.tactics": {
        "tactic": ("str", "tactic shortname, matrix order"),
        "tactic_id": ("str", "TA####"),
        "name": ("str", "tactic display name"),
        "applicable": ("int64", "active top-level techniques of the tactic on a platform in scope"),
        "covered": ("int64", "of those, covered directly or through a sub-technique"),
        "coverage": ("float64", "covered / applicable (0 when nothing is applicable)"),
        "n_rules": ("int64", "rules in scope tagging one of the tactic's applicable techniques or their sub-techniques"),
        "observable": ("int64", "applicable top-level techniques not covered but observable in full (state observable)"),
        "partly_observable": ("int64", "applicable top-level techniques not covered and observable in part (state "
                              "partly observable)"),
        "not_observable": ("int64", "applicable top-level techniques not covered and not observable"),
    },
    "coverage.observability": {
        "technique_id": ("str", "an active technique or sub-technique"),
        "observable": ("category", "none, partial or full (ordered): full when some analytic for the platforms in "
                       "scope has every log-source reference served in full by the sensors in scope, partial when "
                       "some reference is served at least in part (before v18: all or some detecting data "
                       "components recorded)"),
        "n_analytics": ("int64", "its analytics for the platforms in scope (before v18: its detecting data components)"),
        "n_observed": ("int64", "of those, the ones with some reference served at least in part"),
        "n_full": ("int64", "of those, the ones with every reference served in full"),
        "strategy_ids": ("object", "list of its detection strategies (DET####; empty before v18)"),
        "analytics": ("object", "list of the analytics with some reference served (AN####; empty before v18)"),
        "data_components": ("object", "list of the data components of the references served at least in part"),
        "log_sources": ("object", "list of the ATT&CK log sources of the references served at least in part"),
        "sensors": ("object", "list of the Falco event sources that serve some reference"),
        "missing": ("object", "list of what is missing for full, as 'log source · data component · channel: why' "
                    "(the references not served in full of the analytic closest to full)"),
    },
    "coverage.references": {
        "technique_id": ("str", "an active technique or sub-technique"),
        "strategy_id": ("str", "its detection strategy (DET####; missing before v18)"),
        "analytic_id": ("str", "the analytic (AN####; missing before v18)"),
        "log_source": ("str", "the log source the reference names (missing before v18)"),
        "data_component": ("str", "the data component it records"),
        "channel": ("str", "the channel: the system calls or records it means (missing when none is named)"),
        "grade": ("category", "none, partial or full (ordered): how much of what it needs the best sensor gives"),
        "sensor": ("str", "the Falco event source that gives it (missing when none observes its platforms)"),
        "why": ("str", "the reason, in one sentence"),
    },
    "coverage.rule_detections": {
        "rule": ("str", "a rule"),
        "technique_id": ("str", "an active technique it tags"),
        "strategy_ids": ("object", "list of the technique's detection strategies (DET####)"),
        "analytic_ids": ("object", "list of its analytics the rule's source serves (the ones the fit is judged on)"),
        "fit": ("category", "match, partial or none (see falco_coverage.analysis.tags.detection_fit); missing when the "
                "rule's source serves none of the technique's analytics"),
        "evidence": ("object", "list of what matched: values of the condition found in the analytics' text, and "
                     "evt.type=<type> for specific event types their channels name"),
        "data_components": ("object", "list of the data components those analytics ask for"),
    },
    "coverage.gaps": {
        "technique_id": ("str", "an applicable top-level technique no rule in scope covers"),
        "name": ("str", "technique name"),
        "tactics": ("object", "list of its tactic shortnames"),
        "platforms": ("object", "list of its platforms"),
        "n_groups": ("int64", "threat groups using it; gaps are sorted by this, then n_software"),
        "n_software": ("int64", "software using it"),
        "n_subtechniques": ("int64", "its applicable sub-techniques"),
        "url": ("str", "attack.mitre.org page"),
        "observable": ("category", "none, partial or full (missing without a detection model); observable gaps "
                       "come first"),
        "strategy_ids": ("object", "list of its detection strategies (DET####)"),
    },
    "coverage.rule_tactics": {
        "rule": ("str", "a rule in scope"),
        "tactic": ("category", "a tactic one of its techniques belongs to (ordered categorical)"),
        "maturity": ("str", "the rule's maturity, or 'none'"),
        "priority": ("str", "the rule's priority"),
        "source": ("str", "the rule's event source"),
        "origin": ("str", "own or base (see rules.rules)"),
    },
    "coverage.tactic_only": {
        "rule": ("str", "a rule in scope with tactic tags but no valid technique tag"),
        "tactic": ("category", "a tactic it tags (ordered categorical, matrix order)"),
    },
    # --- the sensor profile (falco_coverage.analysis.coverage.sensors) ---------------------------------------
    "sensors.profile": {
        "source": ("str", "a Falco event source"),
        "platforms": ("object", "list of the ATT&CK platforms it observes (source_platforms)"),
        "kind": ("category", "log source (an ATT&CK log source it reads the events of) or data component (one it "
                 "records on those platforms)"),
        "name": ("str", "the ATT&CK log source or data component name"),
        "why": ("str", "why the source observes it"),
        "evt_types": ("object", "list of the Falco event types that record a data component (syscall; '*': every "
                      "event), else empty"),
    },
    # --- alerts (falco_coverage.alerts) -------------------------------------------------------------
    "alerts.alerts": {
        "time": ("datetime64[ns, UTC]", "when the alert fired or the counter was sampled, to the nanosecond "
                 "(missing when not given)"),
        "rule": ("str", "rule name as the alert gives it (a metrics snapshot writes blanks as _)"),
        "priority": ("category", "canonical priority (ordered categorical), missing when not given"),
        "source": ("str", "event source, missing when not given"),
        "hostname": ("str", "the host (or Prometheus instance) it came from, missing when not given"),
        "tags": ("object", "list of the alert's own tags (the rule set's are the current ones); rows with equal tags share one list"),
        "count": ("int64", "1 for an alert; a counter sample's value (matches since Falco started)"),
        "kind": ("category", "alert or counter"),
        "shape": ("category", "falco, sidekick, elasticsearch, loki or prometheus: how it was written"),
        "file": ("str", "input file ('-' for standard input)"),
        "line": ("int64", "1-based line in that file"),
    },
    "alerts.problems": {
        "file": ("str", "input file"),
        "line": ("int64", "1-based line that could not be read"),
        "reason": ("str", "why, in one sentence"),
    },
    "observed.rules": {
        "rule": ("str", "a rule of the rule set, or one only the alerts name"),
        "enabled": ("bool", "whether the rule is enabled (True for rules only the alerts name)"),
        "source": ("str", "its event source (missing for rules not in the set)"),
        "tags": ("object", "list of its tags: the rule set's, or for a rule not in the set the alerts' own"),
        "fires": ("int64", "alerts in the window, plus the increase of its match counters"),
        "first_seen": ("datetime64[us, UTC]", "first fire in the window"),
        "last_seen": ("datetime64[us, UTC]", "last fire in the window"),
        "hosts": ("object", "sorted list of the hosts it fired on"),
        "in_ruleset": ("bool", "False for rules the loaded rule set does not have (tags from the alerts)"),
        "share": ("float64", "its share of all fires"),
    },
    "observed.techniques": {
        "technique_id": ("str", "an applicable top-level technique of the coverage"),
        "name": ("str", "technique name"),
        "tactic": ("str", "its first tactic in matrix order (as in the coverage frame)"),
        "state": ("category", "detected, observable, partly observable or not observable (missing without a "
                  "detection model)"),
        "detected": ("bool", "a rule in scope tags it (or a sub-technique of it)"),
        "fires": ("int64", "fires of the rules tagging it (or a sub-technique of it)"),
        "fired": ("bool", "fires > 0"),
        "rules_fired": ("object", "sorted list of the rules that fired for it"),
        "view": ("category", "the view from what a rule proves to what needs another sensor: fired, detected but "
                 "silent, observable, partly observable, not observable (or not detected, without a detection "
                 "model)"),
    },
    # --- comparisons (falco_coverage.analysis.coverage.compare) -------------------------------------------------
    "compare.tactics": {
        "tactic_id": ("str", "TA####: tactics are matched by ID (matrix order of the second coverage)"),
        "tactic": ("str", "tactic shortname (after; before for a tactic only the first coverage has)"),
        "name": ("str", "tactic display name (after)"),
        "name_before": ("str", "its display name in the first coverage (differs when renamed; missing when new)"),
        "covered_before": ("int64", "covered top-level techniques in the first coverage"),
        "covered_after": ("int64", "covered top-level techniques in the second coverage"),
        "applicable_before": ("int64", "applicable top-level techniques in the first coverage"),
        "applicable_after": ("int64", "applicable top-level techniques in the second coverage"),
        "coverage_before": ("float64", "covered / applicable, first"),
        "coverage_after": ("float64", "covered / applicable, second"),
        "delta": ("int64", "covered_after - covered_before"),
    },
    "compare.techniques": {
        "technique_id": ("str", "a top-level technique covered in only one of the two coverages"),
        "name": ("str", "technique name"),
        "change": ("str", "gained (covered only in the second) or lost (only in the first)"),
        "rules_before": ("object", "rules covering it in the first coverage"),
        "rules_after": ("object", "rules covering it in the second coverage"),
    },
    "compare.tactic_moves": {
        "retired_tactic": ("str", "a tactic shortname of the older release that the newer one no longer has"),
        "tactic_id": ("str", "its tactic ID in the older release"),
        "destination": ("str", "a tactic shortname of the newer release its techniques moved to, or revoked, "
                               "removed, elsewhere (they only lost the retired tactic)"),
        "n_techniques": ("int64", "how many of its techniques went there"),
    },
    "compare.drift": {
        "rule": ("str", "rule name"),
        "tag": ("str", "the technique tag as written"),
        "technique_id": ("str", "canonical technique ID (missing for a tactic tag)"),
        "change": ("str", "revoked, deprecated, removed, tactics changed, tactic retired or tactic renamed "
                          "(from the old release to the new)"),
        "old_tactics": ("object", "its tactics in the old release (a tactic tag: the tactic it named)"),
        "new_tactics": ("object", "its tactics in the new release (empty when revoked, deprecated or removed; a "
                                  "retired tactic tag: its replacement for the rule)"),
        "replaced_by": ("str", "for a revoked technique, its replacement in the new release"),
    },
    # --- findings of every family (falco_coverage.findings) ------------------------------------------
    "findings": {
        "rule": ("str", "rule name (for lint findings on a macro or list: its name)"),
        "code": ("category", "finding code, e.g. tactic-mismatch (categorical over the codes of its family; catalogue: falco_coverage.codes)"),
        "severity": ("category", "error, warning or info (ordered categorical, error first)"),
        "tag": ("str", "the tag at fault, as written, or missing for rule-level findings"),
        "technique_id": ("str", "the technique concerned, canonical, or missing"),
        "tactic": ("str", "the tactic shortname concerned, or missing"),
        "message": ("str", "one sentence naming the ATT&CK objects involved"),
        "suggestion": ("str", "the corrected or missing tag(s) when there is one, else missing"),
        "file": ("str", "file where the tag (or, for rule-level findings, the rule) is written"),
        "line": ("Int64", "1-based line in that file"),
        "column": ("Int64", "1-based column for condition findings (lint), else missing"),
        "enabled": ("bool", "whether the rule is enabled"),
    },
}


def columns(frame: str) -> list[str]:
    """Column names of ``frame`` (a key of :data:`SCHEMAS`) in their documented order."""
    return list(SCHEMAS[frame])


def dtypes(frame: str) -> dict[str, str]:
    """Column name -> documented dtype of ``frame``."""
    return {name: dtype for name, (dtype, _) in SCHEMAS[frame].items()}


def conform(df: pd.DataFrame, frame: str) -> pd.DataFrame:
    """``df`` with exactly the documented columns, in order, cast to their documented dtypes.

    Categorical columns keep the categories they were given (their sets depend on the release or
    registry); a plain column that should be categorical becomes one over its own values.
    """
    out = df[columns(frame)].copy()
    for name, dtype in dtypes(frame).items():
        if str(out[name].dtype) == dtype:
            continue
        if dtype == "object":
            out[name] = out[name].astype(object)
        elif dtype.startswith("datetime64"):
            import pandas as pd

            out[name] = pd.to_datetime(out[name], utc=True, format="ISO8601").astype(dtype)
        else:
            out[name] = out[name].astype(dtype)
    return out
