"""Tag suggestions, leave-one-out over falcosecurity's tagged rules, beside a plain TF-IDF baseline.

    python bench/suggest.py [--attack PATH] [--no-ablations]

Every rule of ``falco-rules/main`` and ``falco-plugin-rules`` with a technique tag has its ATT&CK
tags (techniques and tactics) hidden and is ranked by a model fitted on the other tagged rules only
(no built-in corpus: it holds these very rules). Printed, for the model and the baseline in one run:

- top-1/3/5 accuracy, exact ID and parent level (a hit: one of the first k is one of the rule's
  techniques, or shares its parent);
- ``confident``: share of rules with a confident suggestion, its precision (exact and parent level)
  and recall (confident and exact, over all rules);
- the same on the rules added to falcosecurity/rules after release 1.0.0 (in ``main/``, not in
  ``releases/falco_rules-1.0.0.yaml``), where neighbours help least;
- what each signal adds: the model refitted without it (``--no-ablations`` skips this);
- speed: suggestions for every rule of the two folders (built-in corpus), after ATT&CK is loaded,
  per 100 rules; the one-off index and model build with an empty cache, and the same read back
  from the cache by the next run (a new process: here a fresh load of the release).

Goals: exact top-3 >= 0.70, parent top-1 >= 0.55, confident precision >= 0.90 with >= 40% of rules
confident, <= 1 s per 100 rules.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _bench import DATA, MAIN

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.suggest import CONFIDENT, rank, suggest
from falco_coverage.analysis.suggest.model import FEATURES, SIGNALS, Corpus, TechniqueIndex, model_for
from falco_coverage.config import DEFAULT_SOURCE_PLATFORMS

PLUGINS = DATA / "falco-plugin-rules"
RELEASE_1 = DATA / "falco-rules" / "releases" / "falco_rules-1.0.0.yaml"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from build_suggest_corpus import build, rule_sets  # noqa: E402  (loads the rules the way the corpus is built)


def hidden(record: dict[str, Any]) -> dict[str, Any]:
    """The rule with its ATT&CK tags taken away."""
    return {**record, "technique_tags": [], "tactic_tags": [],
            "tags": [t for t in record["tags"] if t not in set(record["technique_tags"]) | set(record["tactic_tags"])]}


def parent(tid: str) -> str:
    return tid.split(".", 1)[0]


def metrics(ranked: list[list[str]], confident: list[bool], truth: list[set[str]]) -> dict[str, float]:
    n = len(truth)
    out: dict[str, float] = {"rules": n}
    for k in (1, 3, 5):
        out[f"exact@{k}"] = np.mean([bool(set(r[:k]) & t) for r, t in zip(ranked, truth)]) if n else 0.0
        out[f"parent@{k}"] = np.mean([bool({parent(x) for x in r[:k]} & {parent(x) for x in t})
                                      for r, t in zip(ranked, truth)]) if n else 0.0
    conf = [i for i in range(n) if confident[i]]
    hits = [i for i in conf if ranked[i][:1] and ranked[i][0] in truth[i]]
    phits = [i for i in conf if ranked[i][:1] and parent(ranked[i][0]) in {parent(x) for x in truth[i]}]
    out["confident share"] = len(conf) / n if n else 0.0
    out["confident precision"] = len(hits) / len(conf) if conf else float("nan")
    out["confident precision (parent)"] = len(phits) / len(conf) if conf else float("nan")
    out["confident recall"] = len(hits) / n if n else 0.0
    return out


def leave_one_out(attack: Any, records: list[dict[str, Any]], corpus: Corpus,
                  features: tuple[str, ...] = FEATURES) -> tuple[list[list[str]], list[bool], list[float]]:
    ranked, confident, top = [], [], []
    for r in records:
        model = model_for(attack, corpus.without({r["name"]}), DEFAULT_SOURCE_PLATFORMS, features)
        s = rank(model, [hidden(r)], attack, top=5)
        ranked.append(list(s["technique_id"]))
        confident.append(bool(s["confident"].any()))
        top.append(float(s["score"].iloc[0]) if len(s) else 0.0)
    return ranked, confident, top


def baseline(attack: Any, records: list[dict[str, Any]]) -> tuple[list[list[str]], list[bool]]:
    """Plain TF-IDF: the rule's name, description and output against each technique's name and
    description, cosine, on the platforms of the rule's source; never confident."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    idx = TechniqueIndex.of(attack)
    desc = dict(zip(attack.technique_text["technique_id"], attack.technique_text["description"]))
    texts = [f"{idx.names[t]} {desc.get(t, '')}" for t in idx.ids]
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit(texts)
    m = vec.transform(texts)
    ranked = []
    for r in records:
        q = vec.transform([" ".join(str(r.get(k) or "") for k in ("name", "desc", "output"))])
        s = (q @ m.T).toarray()[0]
        plats = DEFAULT_SOURCE_PLATFORMS.get(r["source"])
        s[~idx.candidates(plats or None)] = -1
        ranked.append([idx.ids[j] for j in np.argsort(-s)[:5]])
    return ranked, [False] * len(records)


def show(title: str, rows: dict[str, dict[str, float]]) -> None:
    keys = list(next(iter(rows.values())))
    print(f"\n{title}")
    print(f"{'':34}" + "".join(f"{k:>12}" for k in rows))
    for key in keys:
        print(f"{key:34}" + "".join(f"{v[key]:>12.2f}" if key != "rules" else f"{int(v[key]):>12}"
                                    for v in rows.values()))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:  # leave-one-out fits 80 models: keep them out of the user's cache
        os.environ["FALCO_COVERAGE_CACHE_DIR"] = cache
        run()


def run() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attack", default=str(DATA / "attack" / "enterprise-attack-19.1.json"))
    ap.add_argument("--no-ablations", action="store_true")
    args = ap.parse_args()
    attack = load_attack(args.attack)
    sets = rule_sets(MAIN, PLUGINS)
    records = [r for rs in sets for r in rs.rules.to_dict("records") if r["technique_tags"]]
    corpus = build(MAIN, PLUGINS)
    truth = [{t.upper() for t in r["technique_tags"]} for r in records]
    old = set(load_rules(RELEASE_1).rules["name"])
    new = [i for i, r in enumerate(records) if r["name"] not in old and r["file"].startswith(str(MAIN))]
    print(f"ATT&CK {attack.version}; {len(records)} tagged rules ({len(new)} added after release 1.0.0); "
          f"confident from score {CONFIDENT}")

    t_loo, (ranked, confident, top1) = timed(lambda: leave_one_out(attack, records, corpus))
    base_ranked, base_conf = baseline(attack, records)
    results = {"model": metrics(ranked, confident, truth), "tf-idf": metrics(base_ranked, base_conf, truth)}
    show("leave-one-out, every tagged rule", results)
    print("\nconfidence threshold: share of rules confident and their precision (exact / parent)")
    for theta in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        m = metrics(ranked, [t >= theta for t in top1], truth)
        print(f"  score >= {theta:.1f}: {m['confident share']:.2f} of rules, precision {m['confident precision']:.2f}"
              f" / {m['confident precision (parent)']:.2f}")
    pick = (lambda xs: [xs[i] for i in new])
    show("leave-one-out, rules added after release 1.0.0",
         {"model": metrics(pick(ranked), pick(confident), pick(truth)),
          "tf-idf": metrics(pick(base_ranked), pick(base_conf), pick(truth))})
    print("\n" + "\n".join(f"  {'+' if truth[i] & set(ranked[i][:3]) else '-'} {records[i]['name']}: "
                           f"{sorted(truth[i])} <- {ranked[i][:3]}" for i in new))

    if not args.no_ablations:
        rows = {"all signals": results["model"]}
        for signal, feats in SIGNALS.items():
            kept = tuple(f for f in FEATURES if f not in feats)
            r_, c_, _ = leave_one_out(attack, records, corpus, kept)
            rows[f"without {signal}"] = metrics(r_, c_, truth)
        print("\nwhat each signal adds (leave-one-out, refitted without it):")
        print(f"{'':34}{'exact@1':>9}{'exact@3':>9}{'parent@1':>9}{'parent@3':>9}{'conf.share':>11}{'conf.prec':>10}")
        for name, m in rows.items():
            print(f"{name:34}{m['exact@1']:>9.2f}{m['exact@3']:>9.2f}{m['parent@1']:>9.2f}{m['parent@3']:>9.2f}"
                  f"{m['confident share']:>11.2f}{m['confident precision']:>10.2f}")

    import pandas as pd

    every = pd.concat([rs.rules for rs in sets], ignore_index=True)
    os.environ["FALCO_COVERAGE_CACHE_DIR"] = tempfile.mkdtemp(dir=os.environ["FALCO_COVERAGE_CACHE_DIR"])
    cold = load_attack(args.attack)
    t_index, _ = timed(lambda: TechniqueIndex.of(cold))
    t_model, _ = timed(lambda: suggest(every.iloc[:1], cold))
    warm = load_attack(args.attack)  # what the next run finds: both in the cache
    t_index_warm, _ = timed(lambda: TechniqueIndex.of(warm))
    t_model_warm, _ = timed(lambda: suggest(every.iloc[:1], warm))
    t_rank, out = timed(lambda: suggest(every, warm))
    n = len(every)
    print(f"\nspeed, ATT&CK loaded: text index {t_index:.2f} s to build, {t_index_warm:.2f} s from the cache; "
          f"model {t_model:.2f} s to fit, {t_model_warm:.2f} s from the cache;\n  then {t_rank:.2f} s for {n} rules "
          f"= {100 * t_rank / n:.2f} s per 100 rules; leave-one-out ({len(records)} model fits) {t_loo:.1f} s")
    print(f"built-in corpus on every rule: {int(out['confident'].sum())} confident suggestions; "
          f"{out['rule'].nunique()} of {n} rules have a suggestion")
    files = [str(p) for p in sorted(MAIN.glob("*.yaml"))]
    cmd = [sys.executable, "-m", "falco_coverage", "suggest", *files, "--attack", args.attack, "--format", "json"]
    env = {**os.environ, "FALCO_COVERAGE_CACHE_DIR": tempfile.mkdtemp(dir=os.environ["FALCO_COVERAGE_CACHE_DIR"])}
    t_first, _ = timed(lambda: subprocess.run(cmd, env=env, capture_output=True, check=True))
    t_next, _ = timed(lambda: subprocess.run(cmd, env=env, capture_output=True, check=True))
    print(f"falco-coverage suggest on the {len(files)} main files, a whole process: {t_first:.2f} s with an empty cache, "
          f"{t_next:.2f} s the next time")

if __name__ == "__main__":
    main()
