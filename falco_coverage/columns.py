"""Every DataFrame column falco-coverage produces, documented in one place.

``SCHEMAS[frame][column]`` is the one-line description; tests assert that each frame has
exactly these columns in this order, so this file is the reference for notebook users.
"""

from __future__ import annotations

SCHEMAS: dict[str, dict[str, str]] = {
    # --- ATT&CK (falco_coverage.attack.AttackData) ---------------------------------------
    "attack.tactics": {
        "tactic_id": "ATT&CK tactic ID, e.g. TA0002",
        "shortname": "x_mitre_shortname, e.g. execution, privilege-escalation",
        "name": "display name, e.g. Privilege Escalation",
        "url": "attack.mitre.org page of the tactic",
        "order": "0-based column position in the matrix (the matrix object's tactic_refs)",
    },
    "attack.techniques": {
        "technique_id": "T1059 or T1059.004; one row per attack-pattern, revoked and deprecated included",
        "stix_id": "attack-pattern--<uuid>",
        "name": "technique name (sub-techniques: their own name, without the parent's)",
        "is_subtechnique": "True for T####.### entries",
        "parent_id": "technique_id of the parent for a sub-technique, else None",
        "platforms": "list of x_mitre_platforms, e.g. ['Linux', 'Containers']",
        "tactics": "list of tactic shortnames (kill-chain phases), in matrix order",
        "revoked": "True when the object is revoked",
        "deprecated": "True when x_mitre_deprecated is set",
        "replaced_by": "for a revoked technique, the technique_id its revoked-by chain ends at, else None",
        "url": "attack.mitre.org page of the technique",
        "n_groups": "distinct active intrusion sets that use it (directly or through attributed campaigns)",
        "n_software": "distinct active malware and tools that use it",
        "modified": "the object's modified timestamp (UTC)",
    },
    "attack.technique_tactics": {
        "technique_id": "an active (neither revoked nor deprecated) technique",
        "tactic": "one of its tactic shortnames (ordered categorical in matrix order)",
    },
    # --- Falco rules (falco_coverage.rules.RuleSet) --------------------------------------
    "rules.rules": {
        "name": "rule name",
        "desc": "description, after append/override",
        "condition": "condition as written, after append/override",
        "compiled_condition": "condition with exceptions added and lists substituted (Falco's text form)",
        "expanded_condition": "compiled_condition with every macro expanded (None when it does not parse)",
        "evt_types": "sorted list of the event types it can match, as Falco computes them; None when "
                     "unrestricted (all types) or for a non-syscall source",
        "fields": "list of the fields its expanded condition reads",
        "macros_used": "list of the macros it uses, directly or through other macros",
        "lists_used": "list of the lists substituted into it or into the macros it uses",
        "output": "output format, after append/override",
        "priority": "canonical priority (ordered categorical, Debug < ... < Emergency)",
        "source": "event source, e.g. syscall, k8s_audit, aws_cloudtrail",
        "enabled": "whether Falco would load the rule enabled",
        "warn_evttypes": "False when the rule opts out of Falco's too-many-event-types warning",
        "tags": "list of tags as written (after override), in written order",
        "tag_sources": "list of 'file:line' where each tag of ``tags`` is written (same order)",
        "maturity": "maturity_* tag without its prefix (stable, incubating, sandbox, deprecated) or None",
        "tactic_tags": "list of tags of the tactic form: mitre_* or TA####",
        "technique_tags": "list of tags of the technique form: T#### or T####.###",
        "other_tags": "list of the remaining tags",
        "exceptions": "list of exception dicts (name, fields, comps, values) after append/override",
        "file": "file of the rule's first definition",
        "line": "1-based line of the rule's first definition",
        "touched_at": "list of 'file:line' of every item that defined or changed the rule",
        "valid": "False when Falco would reject the rule (see diagnostics)",
    },
    "rules.macros": {
        "name": "macro name",
        "condition": "condition as written, after append/override",
        "compiled_condition": "condition with lists substituted",
        "file": "file of the first definition",
        "line": "1-based line of the first definition",
        "touched_at": "list of 'file:line' of every item that defined or changed the macro",
        "used": "referenced by a rule (enabled or not) or by another macro",
    },
    "rules.lists": {
        "name": "list name",
        "items": "list of items after append/override, with nested lists expanded one level",
        "file": "file of the first definition",
        "line": "1-based line of the first definition",
        "touched_at": "list of 'file:line' of every item that defined or changed the list",
        "used": "substituted into a rule or macro condition, or expanded into another list",
    },
    "rules.files": {
        "file": "a rules file, in load order",
        "loaded": "False when the file could not be read as a rules file at all (missing, not YAML, not a list)",
        "n_rules": "rule items read from it (definitions, appends, overrides, enabled-only)",
        "n_macros": "macro items read from it",
        "n_lists": "list items read from it",
        "constructs": "sorted list of Falco-version-specific constructs it uses (override, append: true, ...)",
    },
    "rules.diagnostics": {
        "severity": "error or warning (categorical)",
        "code": "Falco's own code name, e.g. LOAD_ERR_YAML_PARSE, ERROR_NO_PREVIOUS_MACRO, LOAD_UNUSED_LIST",
        "message": "one sentence",
        "item": "the rule/macro/list name concerned, or None",
        "file": "file at fault",
        "line": "1-based line at fault (0 when unknown)",
    },
    # --- coverage (falco_coverage.coverage.coverage) ----------------------------------------
    "coverage.techniques": {
        "tactic": "tactic shortname (ordered categorical, matrix order); a technique has one row per tactic",
        "technique_id": "an applicable technique or sub-technique (active, on a platform in scope)",
        "name": "technique name",
        "parent_id": "the parent technique for a sub-technique, else None",
        "n_rules": "rules in scope tagging it (a parent: also those tagging one of its sub-techniques)",
        "rules": "list of those rule names, sorted",
        "covered": "n_rules > 0",
        "covered_via": "direct (the technique is tagged), sub-technique (only a sub-technique is), or None",
        "n_groups": "threat groups using it (from ATT&CK)",
        "n_software": "software using it (from ATT&CK)",
    },
    "coverage.tactics": {
        "tactic": "tactic shortname, matrix order",
        "tactic_id": "TA####",
        "name": "tactic display name",
        "applicable": "active top-level techniques of the tactic on a platform in scope",
        "covered": "of those, covered directly or through a sub-technique",
        "coverage": "covered / applicable (0 when nothing is applicable)",
        "n_rules": "rules in scope tagging one of the tactic's applicable techniques or their sub-techniques",
    },
    "coverage.gaps": {
        "technique_id": "an applicable top-level technique no rule in scope covers",
        "name": "technique name",
        "tactics": "list of its tactic shortnames",
        "platforms": "list of its platforms",
        "n_groups": "threat groups using it; gaps are sorted by this, then n_software",
        "n_software": "software using it",
        "n_subtechniques": "its applicable sub-techniques",
        "url": "attack.mitre.org page",
    },
    "coverage.rule_tactics": {
        "rule": "a rule in scope",
        "tactic": "a tactic one of its techniques belongs to (ordered categorical)",
        "maturity": "the rule's maturity, or 'none'",
        "priority": "the rule's priority",
        "source": "the rule's event source",
    },
    # --- comparisons (falco_coverage.compare) -------------------------------------------------
    "compare.tactics": {
        "tactic": "tactic shortname (matrix order of the second coverage)",
        "name": "tactic display name",
        "covered_before": "covered top-level techniques in the first coverage",
        "covered_after": "covered top-level techniques in the second coverage",
        "applicable_before": "applicable top-level techniques in the first coverage",
        "applicable_after": "applicable top-level techniques in the second coverage",
        "coverage_before": "covered / applicable, first",
        "coverage_after": "covered / applicable, second",
        "delta": "covered_after - covered_before",
    },
    "compare.techniques": {
        "technique_id": "a top-level technique covered in only one of the two coverages",
        "name": "technique name",
        "change": "gained (covered only in the second) or lost (only in the first)",
        "rules_before": "rules covering it in the first coverage",
        "rules_after": "rules covering it in the second coverage",
    },
    "compare.drift": {
        "rule": "rule name",
        "tag": "the technique tag as written",
        "technique_id": "canonical technique ID",
        "change": "revoked, deprecated, removed or tactics changed (from the old release to the new)",
        "old_tactics": "its tactics in the old release",
        "new_tactics": "its tactics in the new release (empty when revoked, deprecated or removed)",
        "replaced_by": "for a revoked technique, its replacement in the new release",
    },
    # --- tag findings (falco_coverage.checks.check) ------------------------------------------
    "findings": {
        "rule": "rule name (for lint findings on a macro or list: its name)",
        "code": "finding code, e.g. tactic-mismatch (categorical; registries: checks.CHECKS, lint.LINTS)",
        "severity": "error, warning or info (ordered categorical, error first)",
        "tag": "the tag at fault, as written, or None for rule-level findings",
        "technique_id": "the technique concerned, canonical, or None",
        "tactic": "the tactic shortname concerned, or None",
        "message": "one sentence naming the ATT&CK objects involved",
        "suggestion": "the corrected or missing tag(s) when there is one, else None",
        "file": "file where the tag (or, for rule-level findings, the rule) is written",
        "line": "1-based line in that file",
        "column": "1-based column for condition findings (lint), else None",
        "enabled": "whether the rule is enabled",
    },
}


def columns(frame: str) -> list[str]:
    """Column names of ``frame`` (a key of :data:`SCHEMAS`) in their documented order."""
    return list(SCHEMAS[frame])
