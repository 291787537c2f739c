"""Rebuild the corpus of tagged rules that suggestions learn from, shipped in the package.

    python data/build_suggest_corpus.py [RULES_DIR] [PLUGIN_RULES_DIR]

The defaults are ``../shared/data/falco-rules/main`` and ``../shared/data/falco-plugin-rules`` beside
the repository. Each rule file is loaded the way Falco loads it (the main files together, in Falco's
order, each plugin file on its own) and every rule with a technique tag becomes one corpus entry of
``falco_coverage/analysis/builtin/suggest-corpus.json.gz``: its name, source, tags and the token lists
suggestions compare (no description or condition text is kept).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from falco_coverage.analysis.suggest.model import CORPUS_FILE, Corpus
from falco_coverage.fsutil import atomic_write
from falco_coverage.rules import RuleSet, load_rules

REPO = Path(__file__).resolve().parents[1]
#: falcosecurity/rules load order: stable first, then incubating, sandbox, deprecated
MAIN_ORDER = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml",
              "falco-deprecated_rules.yaml", "application_rules.yaml")


def rule_sets(main_dir: Path, plugin_dir: Path) -> list[RuleSet]:
    """The main rule files loaded together, in falcosecurity's order, then each plugin rule file alone."""
    main = sorted(main_dir.glob("*.yaml"), key=lambda p: (MAIN_ORDER.index(p.name) if p.name in MAIN_ORDER else 99,
                                                          p.name))
    return ([load_rules(*main)] if main else []) + [load_rules(p) for p in sorted(plugin_dir.glob("*.yaml"))]


def build(main_dir: Path, plugin_dir: Path) -> Corpus:
    """The corpus of the tagged rules of the main rule files and of each plugin rule file."""
    corpus = Corpus._of([])
    for ruleset in rule_sets(main_dir, plugin_dir):
        corpus = corpus.merged(Corpus.from_rules(ruleset.rules))
    return corpus


def encode(corpus: Corpus) -> bytes:
    return gzip.compress(json.dumps(corpus.to_json(), sort_keys=True, separators=(",", ":")).encode(), 9, mtime=0)


def main() -> None:
    shared = REPO.parent / "shared" / "data"
    main_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "falco-rules" / "main"
    plugin_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else shared / "falco-plugin-rules"
    corpus = build(main_dir, plugin_dir)
    atomic_write(CORPUS_FILE, encode(corpus))
    print(f"{len(corpus)} tagged rules -> {CORPUS_FILE.relative_to(REPO)} ({CORPUS_FILE.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
