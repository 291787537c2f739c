"""The catalogue of every finding code: rule-loading diagnostics, ATT&CK tag checks, condition lints.

Codes are declared here, once, with their family, default severity and summary; the functions
that find them attach themselves in :mod:`falco_coverage.analysis.tags.checks` (tag) and
:mod:`falco_coverage.analysis.tags.lint` (lint). Load codes keep Falco's own names and are produced by
the rules loader (:mod:`falco_coverage.rules`). Configuration (:mod:`falco_coverage.config`) may
name any code.
"""

from __future__ import annotations

from .findings import Registry

REGISTRY = Registry()
_d = REGISTRY.declare

# --- rule loading: Falco's own codes ---------------------------------------------------------
_d("LOAD_ERR_FILE_READ", "load", "error", "the file cannot be read")
_d("LOAD_ERR_YAML_PARSE", "load", "error", "the file is not valid YAML")
_d("LOAD_ERR_YAML_VALIDATE", "load", "error", "an item does not have the shape Falco expects")
_d("LOAD_ERR_VALIDATE", "load", "error", "an item is inconsistent (versions, exceptions, sources, names)")
_d("LOAD_ERR_COMPILE_CONDITION", "load", "error", "a condition does not compile (syntax, fields, event types)")
_d("LOAD_ERR_COMPILE_OUTPUT", "load", "error", "an output names a field Falco does not know")
_d("LOAD_DEPRECATED_ITEM", "load", "warning", "a deprecated key, item or field")
_d("LOAD_UNKNOWN_SOURCE", "load", "warning", "a rule for an event source Falco has not loaded: skipped")
_d("LOAD_UNKNOWN_FILTER", "load", "warning", "an unknown field or event type in a rule with skip-if-unknown-filter: "
                                             "skipped")
_d("LOAD_COMPILE_CONDITION", "load", "warning", "a condition that compiles, with a warning")
_d("LOAD_NO_EVTTYPE", "load", "warning", "a syscall rule that matches every event type, or none")
_d("LOAD_APPEND_NO_VALUES", "load", "warning", "an exception appended or overridden with no values")
_d("LOAD_UNKNOWN_ITEM", "load", "warning", "a top-level item that is not a rule, macro, list or version")
_d("LOAD_UNKNOWN_KEY", "load", "warning", "a key Falco ignores")
_d("LOAD_INVALID_LIST_NAME", "load", "warning", "a list name with characters a condition cannot name")
_d("LOAD_INVALID_MACRO_NAME", "load", "warning", "a macro name with characters a condition cannot name")
_d("LOAD_EXCEPTION_NAME_NOT_UNIQUE", "load", "warning", "two exceptions of one rule share a name")
_d("LOAD_UNUSED_LIST", "load", "warning", "a list no rule or macro uses")
_d("LOAD_UNUSED_MACRO", "load", "warning", "a macro no rule or macro uses")
# finer reasons (sub-codes) under Falco's codes: a diagnostic's ``code`` is the parent, its ``sub_code`` this
_s = REGISTRY.declare
_s("ERROR_NO_PREVIOUS_MACRO", "load", "error", "a macro append/override with no earlier macro of that name",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_NO_PREVIOUS_LIST", "load", "error", "a list append/override with no earlier list of that name",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_NO_PREVIOUS_RULE_APPEND", "load", "error", "a rule append with no earlier rule of that name",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_NO_PREVIOUS_RULE_REPLACE", "load", "error", "a rule replace override with no earlier rule of that name",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_NO_PREVIOUS_RULE_ENABLE", "load", "error", "an enabled-only rule item with no earlier rule of that name",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_OVERRIDE_APPEND", "load", "error", "'override' and 'append: true' on one item",
   parent="LOAD_ERR_YAML_VALIDATE")
_s("ERROR_SOURCE_MISMATCH", "load", "error", "a rule re-defined or appended to with a different source",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_UNDEFINED_MACRO", "load", "error", "a macro that is not defined (from a macro: not before it)",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_MACRO_LOOP", "load", "error", "macros that reference each other in a loop", parent="LOAD_ERR_VALIDATE")
_s("ERROR_ENGINE_VERSION", "load", "error", "the file requires a newer Falco than --falco-version",
   parent="LOAD_ERR_VALIDATE")
_s("ERROR_UNKNOWN_FIELD", "load", "error", "a field Falco (at --falco-version) does not know for the rule's source",
   parent="LOAD_ERR_COMPILE_CONDITION")
_s("ERROR_UNKNOWN_EVTTYPE", "load", "error", "an event type Falco does not know", parent="LOAD_ERR_COMPILE_CONDITION")
_s("ERROR_UNKNOWN_TRANSFORMER", "load", "error", "a transformer this Falco version does not have",
   parent="LOAD_ERR_COMPILE_CONDITION")
_s("ERROR_UNKNOWN_OUTPUT_FIELD", "load", "error", "an output %field Falco does not know",
   parent="LOAD_ERR_COMPILE_OUTPUT")
_s("ERROR_EXCEPTION_FIELD", "load", "error", "an exception naming a field Falco does not know",
   parent="LOAD_ERR_VALIDATE")
_s("WARNING_APPEND", "load", "warning", "the deprecated 'append: true' key", parent="LOAD_DEPRECATED_ITEM")
_s("WARNING_ENABLED", "load", "warning", "the deprecated standalone 'enabled' item", parent="LOAD_DEPRECATED_ITEM")
_s("WARNING_DEPRECATED_FIELD", "load", "warning", "a field Falco deprecates (evt.dir, evt.latency, ...)",
   parent="LOAD_DEPRECATED_ITEM")
_s("WARNING_FIELD_AS_VALUE", "load", "warning", "an exception value that looks like a field (or a transformer of one) "
   "but is compared as a string", parent="LOAD_COMPILE_CONDITION")
# falco-coverage's own load findings (lower case): Falco accepts these silently
_d("duplicate-definition", "load", "warning", "a name defined twice in one file: the later replaces the earlier whole")
_d("condition-too-large", "load", "error", "a condition whose macros expand past a size Falco can compile (a macro bomb)")
_d("unchecked-source", "load", "info", "an event source the field catalogue does not cover: its rules' fields "
   "are not checked (said once per source)")
_d("schema", "load", "warning", "an item that breaks Falco's rules-file schema (Falco loads it, with a warning)")

# --- ATT&CK tag checks -----------------------------------------------------------------------
_d("malformed-tag", "tag", "warning", "ATT&CK reference written in a non-canonical form", fixable=True)
_d("unknown-technique", "tag", "error", "technique tag that the ATT&CK release does not have")
_d("revoked-technique", "tag", "error", "revoked technique; use the technique that replaced it", fixable=True)
_d("deprecated-technique", "tag", "error", "deprecated technique")
_d("unknown-tactic", "tag", "error", "mitre_* or TA#### tag naming no ATT&CK tactic", fixable=True)
_d("retired-tactic", "tag", "error", "a tactic the ATT&CK release retired (v19: Defense Evasion); names its replacement",
   fixable=True)
_d("tactic-renamed", "tag", "warning", "a TA#### whose tactic was renamed, and the rule's techniques are not in it",
   fixable=True)
_d("tactic-mismatch", "tag", "error", "the rule's tactic tags include none of the technique's tactics", fixable=True)
_d("missing-tactic", "tag", "warning", "a technique is tagged but no valid tactic tag", fixable=True)
_d("unsupported-tactic", "tag", "warning", "tactic tag that none of the rule's techniques belongs to")
_d("tactic-id-mismatch", "tag", "warning", "TA#### and mitre_* tags name different tactics")
_d("platform-mismatch", "tag", "warning", "technique for platforms the rule's source cannot observe")
_d("untagged-technique-mention", "tag", "warning", "the rule's name or desc names a technique it is not tagged with")
_d("tags-key-typo", "tag", "warning", "a key that is meant to be 'tags' (e.g. 'tag'): Falco ignores it and its tags")
_d("data-source-tag", "tag", "warning", "an ATT&CK data source ID (DS####) used as a tag")
_d("partial-tactics", "tag", "info", "some but not all tactics of a technique are tagged")
_d("tactic-only", "tag", "info", "tactic tags but no technique tag")
_d("redundant-parent", "tag", "info", "a sub-technique and its parent are both tagged")
_d("no-mitre-tags", "tag", "info", "no ATT&CK tag at all")
#: the findings that carry a rule's confident technique suggestion (analysis.suggest)
SUGGESTED_CODES = ("no-mitre-tags", "tactic-only")
_d("analytic-mismatch", "tag", "info", "the rule looks at none of what ATT&CK's analytics for a technique it tags "
   "name (the paths, programs or event types of its detection strategy)")
_d("other-release-tag", "tag", "info", "a tag valid in the other release of a transition (--also-attack), accepted")

# --- condition lints ---------------------------------------------------------------------------
#: Falco's LOAD_NO_EVTTYPE threshold
MAX_EVT_TYPES = 100
#: an inline list with at least this many literal items should be a named list
INLINE_LIST_MIN = 8
_d("parse-error", "lint", "error", "the condition does not parse")
_d("unknown-operator", "lint", "error", "a field is followed by a word that is not an operator")
_d("undefined-macro", "lint", "error", "a macro that is not defined (or, from a macro, not defined before it)")
_d("macro-loop", "lint", "error", "macros that reference each other in a loop")
_d("unused-macro", "lint", "warning", "a macro no rule or macro uses")
_d("unused-list", "lint", "warning", "a list no condition or list uses")
_d("no-evttype", "lint", "warning", f"a syscall rule that matches all (or over {MAX_EVT_TYPES}) event types")
_d("inline-list", "lint", "warning", f"an inline list of {INLINE_LIST_MIN} or more literal items: make it a named list")

#: the codes ``falco-coverage fix`` can mend, in the order it applies them
FIXABLE = ("revoked-technique", "malformed-tag", "unknown-tactic", "retired-tactic", "tactic-renamed", "missing-tactic",
           "tactic-mismatch")
#: fixes with two plausible remedies (is the technique wrong, or the tactic?): applied only when named
AMBIGUOUS = ("tactic-mismatch",)
#: what ``fix`` applies when no code is named
DEFAULT_FIXES = tuple(c for c in FIXABLE if c not in AMBIGUOUS)
