"""The ranking model behind suggestions: ATT&CK's text index, the corpus of tagged rules, the features.

For a rule and every candidate technique (active, on a platform of the rule's source) the model
computes one row of features (:data:`FEATURES`):

- ``neighbours``: similarity-weighted votes of the 20 most similar tagged rules of the corpus (by
  signature: words, condition values, fields, macros, lists), never the rule itself (same name);
  ``neighbours_rel`` is that vote over the rule's best vote, ``family`` the votes for any technique of
  the same parent;
- ``prior``, ``prior_family``: how many corpus rules carry the technique (its family), the rule excluded;
- ``subtechnique``: rules are more often tagged with the parent than with a sub-technique;
- ``attack_<field>`` and ``attack_<field>_rel``: TF-IDF cosine between the rule's text and ATT&CK's
  name, description, analytics (with the condition's words) and procedure examples of the technique,
  raw and over the rule's best.

A logistic regression over these rows, fitted on the corpus itself (each corpus rule ranked with
itself left out), turns them into the probability that the technique is one the rule carries.
The text index (per release) and the fitted model (per corpus) are memoised with the release and
kept in the cache beside its frames, so only the first run on a release or a changed corpus fits.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...attack import cache as frames_cache
from .logistic import fit_logistic
from .text import TECHNIQUE_FIELDS, rule_words, technique_documents
from .term_index import TermIndex

if TYPE_CHECKING:
    import pandas as pd

    from ...attack import AttackData

CORPUS_FILE = Path(__file__).resolve().parents[1] / "builtin" / "suggest-corpus.json.gz"
#: the layout of the cached index and model; a change simply misses the cache
INDEX_FORMAT = 3
#: fitted models kept in the cache per release (one per corpus: the user's tagged rules change)
KEEP_MODELS = 8
#: inverse regularisation strength of the ranker (C in :func:`.logistic.fit_logistic`)
REGULARISATION = 1.0
#: neighbours that vote
NEIGHBOURS = 20
FEATURES = ("neighbours", "neighbours_rel", "family", "prior", "prior_family", "subtechnique",
            *(f"attack_{f}" for f in TECHNIQUE_FIELDS), *(f"attack_{f}_rel" for f in TECHNIQUE_FIELDS))
#: feature groups, for the bench to measure what each signal adds
SIGNALS = {
    "neighbours": ("neighbours", "neighbours_rel", "family"),
    "prior": ("prior", "prior_family", "subtechnique"),
    **{f"attack_{f}": (f"attack_{f}", f"attack_{f}_rel") for f in TECHNIQUE_FIELDS},
}


class TechniqueIndex:
    """ATT&CK's text of one release's active techniques, one :class:`TermIndex` per field; built once
    per release and kept in the cache beside the release's frames."""

    def __init__(self, attack: AttackData) -> None:
        t = attack.techniques
        act = t[~(t["revoked"] | t["deprecated"])].reset_index(drop=True)
        self.ids: list[str] = list(act["technique_id"])
        self.names: dict[str, str] = dict(zip(act["technique_id"], act["name"]))
        self.platforms: list[set[str]] = [{p.casefold() for p in ps} for ps in act["platforms"]]
        self.tactics: list[list[str]] = [list(x) for x in act["tactics"]]
        pos = {tid: i for i, tid in enumerate(self.ids)}
        self.pos = pos
        self.family = np.array([pos.get(tid.split(".", 1)[0], i) for i, tid in enumerate(self.ids)])
        self.is_sub = np.array(["." in tid for tid in self.ids], dtype=float)
        self.fields = self._cached(attack) or self._build(attack)

    def _cached(self, attack: AttackData) -> dict[str, TermIndex] | None:
        if not (attack.use_cache and attack.sha256):
            return None
        entry = frames_cache.read_derived(attack.sha256, f"suggest-index-{INDEX_FORMAT}")
        if entry is None or entry[0].get("ids") != self.ids:
            return None
        doc, arrays = entry
        try:
            return {f: TermIndex.from_parts(doc["fields"][f], arrays, f) for f in TECHNIQUE_FIELDS}
        except (KeyError, TypeError, ValueError):
            return None

    def _build(self, attack: AttackData) -> dict[str, TermIndex]:
        words = attack.technique_text
        text = {r[0]: (r[1] if isinstance(r[1], str) else "", r[2] if isinstance(r[2], str) else "", list(r[3]))
                for r in words[["technique_id", "description", "detection", "procedures"]].itertuples(index=False)}
        docs = technique_documents(self.names, text, _analytics_text(attack), self.ids)
        fields = {f: TermIndex.fit(docs[f]) for f in TECHNIQUE_FIELDS}
        if attack.use_cache and attack.sha256:
            parts = {f: i.to_parts(f) for f, i in fields.items()}
            frames_cache.write_derived(attack.sha256, f"suggest-index-{INDEX_FORMAT}",
                                       {"ids": self.ids, "fields": {f: p[0] for f, p in parts.items()}},
                                       {k: a for p in parts.values() for k, a in p[1].items()})
        return fields

    @classmethod
    def of(cls, attack: AttackData) -> TechniqueIndex:
        return attack.memoised("suggest_index", cls, lambda: cls(attack))

    def similarities(self, text: list[list[str]], with_condition: list[list[str]]) -> dict[str, np.ndarray]:
        """Per field, the (rules x techniques) cosine between the rules' tokens and the field's documents."""
        return {f: self.fields[f].similarities(with_condition if f == "analytics" else text)
                for f in TECHNIQUE_FIELDS}

    def candidates(self, platforms: list[str] | None) -> np.ndarray:
        """Techniques on one of ``platforms`` (every active technique when ``None``)."""
        if platforms is None:
            return np.ones(len(self.ids), dtype=bool)
        wanted = {p.casefold() for p in platforms}
        return np.array([bool(ps & wanted) for ps in self.platforms])


def _analytics_text(attack: AttackData) -> dict[str, str]:
    det = attack.detections
    an = attack.analytics
    if det.empty or an.empty:
        return {}
    desc = dict(zip(an["analytic_id"], an["description"]))
    pairs = det.dropna(subset=["analytic_id"]).drop_duplicates(["technique_id", "analytic_id"])
    out: dict[str, list[str]] = {}
    for tid, aid in zip(pairs["technique_id"], pairs["analytic_id"]):
        text = desc.get(aid)
        if isinstance(text, str):
            out.setdefault(tid, []).append(text)
    return {tid: " ".join(texts) for tid, texts in out.items()}


@dataclass(frozen=True)
class Corpus:
    """Tagged rules the model learns from and whose tags neighbours vote for: the built-in corpus
    (falcosecurity's rules, as tokens) and the tagged rules of the loaded set."""

    names: tuple[str, ...]
    sources: tuple[str, ...]
    text: tuple[tuple[str, ...], ...]
    conditions: tuple[tuple[str, ...], ...]
    signatures: tuple[tuple[str, ...], ...]
    techniques: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_rules(cls, rules: pd.DataFrame) -> Corpus:
        """The rules of ``rules`` that carry a technique tag."""
        rows = []
        for r in rules.to_dict("records"):
            techs = tuple(sorted({t.upper() for t in r.get("technique_tags") or []}))
            if techs:
                w = rule_words(r)
                rows.append((r["name"], r.get("source") or "", tuple(w.text), tuple(w.conditions),
                             tuple(w.signature), techs))
        return cls._of(rows)

    @classmethod
    def _of(cls, rows: list[tuple[Any, ...]]) -> Corpus:
        cols = list(zip(*rows)) if rows else [()] * 6
        return cls(*(tuple(c) for c in cols))

    def merged(self, other: Corpus) -> Corpus:
        """This corpus and ``other``; a rule in both (same name) is taken from ``other``."""
        keep = [i for i, n in enumerate(self.names) if n not in set(other.names)]
        rows = [self.row(i) for i in keep] + [other.row(i) for i in range(len(other))]
        return Corpus._of(rows)

    def without(self, names: set[str]) -> Corpus:
        return Corpus._of([self.row(i) for i, n in enumerate(self.names) if n not in names])

    def row(self, i: int) -> tuple[Any, ...]:
        return (self.names[i], self.sources[i], self.text[i], self.conditions[i], self.signatures[i],
                self.techniques[i])

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps([list(map(list, self.row(i)[2:])) + [self.names[i]]
                                          for i in range(len(self))]).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        keys = ("name", "source", "text", "condition", "signature", "techniques")
        return {"format": 1, "rules": [dict(zip(keys, [v if isinstance(v, str) else list(v) for v in self.row(i)]))
                                       for i in range(len(self))]}


@lru_cache(maxsize=1)
def builtin_corpus() -> Corpus:
    """The corpus shipped in the package: the tagged rules of falcosecurity's rule files, as tokens."""
    if not CORPUS_FILE.is_file():
        return Corpus._of([])
    doc = json.loads(gzip.decompress(CORPUS_FILE.read_bytes()))
    return Corpus._of([(r["name"], r["source"], tuple(r["text"]), tuple(r["condition"]), tuple(r["signature"]),
                        tuple(r["techniques"])) for r in doc["rules"]])


#: the ranker is fitted on at most this many corpus rules (a fixed sample beyond), this many at a time
FIT_RULES = 3000
FIT_CHUNK = 500


class Model:
    """Features and the fitted ranker for one release and one corpus."""

    def __init__(self, attack: AttackData, corpus: Corpus, platforms_of: dict[str, list[str]],
                 features: tuple[str, ...] = FEATURES, key: str = "") -> None:
        self.index = TechniqueIndex.of(attack)
        self.corpus = corpus
        self.platforms_of = platforms_of
        self.features = features
        m = len(self.index.ids)
        self.labels = np.zeros((len(corpus), m))
        self.family_labels = np.zeros((len(corpus), m))
        for i, techs in enumerate(corpus.techniques):
            for t in techs:
                j = self.index.pos.get(t)
                if j is not None:
                    self.labels[i, j] = 1
                    self.family_labels[i, self.index.family == self.index.family[j]] = 1
        #: False when the corpus was too small to fit the ranker (fixed weights then; never confident)
        self.fitted = False
        cache = attack.use_cache and bool(attack.sha256) and bool(key)
        entry = frames_cache.read_derived(str(attack.sha256), f"suggest-model-{key}") if cache else None
        try:
            if entry is None or entry[0]["names"] != list(corpus.names):
                raise ValueError("not this corpus")
            doc = entry[0]
            self.signatures = TermIndex.from_parts(doc["signatures"], entry[1], "signatures")
            self.weights, self.bias, self.fitted = np.asarray(doc["weights"], dtype=float), float(doc["bias"]), \
                bool(doc["fitted"])
        except (KeyError, TypeError, ValueError):
            self.signatures = TermIndex.fit([list(s) for s in corpus.signatures])
            self.weights, self.bias = self._fit()
            if cache:
                signatures, arrays = self.signatures.to_parts("signatures")
                frames_cache.write_derived(str(attack.sha256), f"suggest-model-{key}", {
                    "names": list(corpus.names), "signatures": signatures,
                    "weights": self.weights.tolist(), "bias": self.bias, "fitted": self.fitted},
                    arrays, keep=KEEP_MODELS)

    def platforms(self, source: str) -> list[str] | None:
        """The ATT&CK platforms of a source; ``None`` when the source maps to none (then every technique is a candidate)."""
        plats = self.platforms_of.get(source)
        return list(plats) if plats else None

    def neighbour_similarity(self, signatures: list[list[str]], names: list[str]) -> np.ndarray:
        """(rules x corpus) cosine of signatures, zero for the corpus entry of the same name."""
        sim = self.signatures.similarities(signatures)
        where = {n: i for i, n in enumerate(self.corpus.names)}
        for r, name in enumerate(names):
            if name in where:
                sim[r, where[name]] = 0.0
        return sim

    def feature_tensor(self, text: list[list[str]], conditions: list[list[str]], signatures: list[list[str]],
                       names: list[str], masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rules x techniques x features) and the neighbour similarities behind them."""
        n = len(text)
        sim = self.neighbour_similarity(signatures, names)
        weights = np.zeros_like(sim)
        if sim.shape[1]:
            top = np.argsort(-sim, axis=1)[:, :NEIGHBOURS]
            rows = np.arange(n)[:, None]
            weights[rows, top] = sim[rows, top] ** 2
        votes = weights @ self.labels
        family = weights @ self.family_labels
        own_labels, own_family = self._own_labels(names)
        prior = self.labels.sum(0)[None, :] - own_labels
        prior_family = self.family_labels.sum(0)[None, :] - own_family
        cols = {"neighbours": votes, "neighbours_rel": _relative(votes, masks), "family": family,
                "prior": np.log1p(np.maximum(prior, 0)), "prior_family": np.log1p(np.maximum(prior_family, 0)),
                "subtechnique": np.broadcast_to(self.index.is_sub, votes.shape)}
        sims = self.index.similarities(text, [t + c for t, c in zip(text, conditions)])
        for f, s in sims.items():
            cols[f"attack_{f}"] = s
            cols[f"attack_{f}_rel"] = _relative(s, masks)
        return np.stack([np.broadcast_to(cols[f], votes.shape) for f in self.features], axis=-1), sim

    def _own_labels(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per rule, the labels of the corpus entries of its own name (left out of the priors)."""
        where: dict[str, list[int]] = {}
        for i, c in enumerate(self.corpus.names):
            where.setdefault(c, []).append(i)
        m = self.labels.shape[1]
        own, family = np.zeros((len(names), m)), np.zeros((len(names), m))
        for r, name in enumerate(names):
            for i in where.get(name, ()):
                own[r] += self.labels[i]
                family[r] += self.family_labels[i]
        return own, family

    def masks(self, sources: list[str]) -> np.ndarray:
        return np.stack([self.index.candidates(self.platforms(s)) for s in sources]) if sources else \
            np.zeros((0, len(self.index.ids)), dtype=bool)

    def _fit(self) -> tuple[np.ndarray, float]:
        """Logistic regression over the corpus's own (rule, candidate) rows, each rule left out of its features."""
        c = self.corpus
        fallback = np.array([1.0 if f in ("neighbours_rel", "attack_all_rel", "attack_analytics_rel") else 0.0
                             for f in self.features]), -2.0
        if len(c) < 5 or self.labels.sum() < 5:
            return fallback
        chosen = np.arange(len(c))
        if len(c) > FIT_RULES:  # a fixed sample: the fit needs examples, not every rule of a huge corpus
            chosen = np.sort(np.random.default_rng(0).choice(len(c), FIT_RULES, replace=False))
        xs_parts, ys_parts = [], []
        for k in range(0, len(chosen), FIT_CHUNK):  # rules x techniques x features, a chunk at a time
            part = chosen[k:k + FIT_CHUNK]
            masks = self.masks([c.sources[i] for i in part])
            x, _ = self.feature_tensor([list(c.text[i]) for i in part], [list(c.conditions[i]) for i in part],
                                       [list(c.signatures[i]) for i in part], [c.names[i] for i in part], masks)
            xs_parts.append(x[masks])
            ys_parts.append(self.labels[part][masks])
        xs, ys = np.concatenate(xs_parts), np.concatenate(ys_parts)
        if ys.size == 0 or ys.min() == ys.max():  # no candidate (a release with no technique on the platforms)
            return fallback
        weights, bias = fit_logistic(xs, ys, REGULARISATION)
        self.fitted = True
        return weights, bias

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of the fitted ranker, (rules x techniques)."""
        z = x @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))


def _relative(s: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Each row over its best candidate's value (0 where the row has nothing)."""
    best = np.where(masks, s, 0).max(axis=1, keepdims=True) if s.size else np.zeros((s.shape[0], 1))
    best[best == 0] = 1.0
    return s / best


def model_for(attack: AttackData, corpus: Corpus, platforms_of: dict[str, list[str]],
              features: tuple[str, ...] = FEATURES) -> Model:
    """The model of ``attack`` and ``corpus``, memoised per release, corpus and platform map, and kept
    in the cache (its signature index and fitted weights) so a later run need not fit it again."""
    key = hashlib.sha256(json.dumps([INDEX_FORMAT, corpus.fingerprint(), platforms_of, list(features)],
                                    sort_keys=True).encode()).hexdigest()[:32]
    memo = attack.memo.setdefault("suggest_models", {})
    if key not in memo:
        if len(memo) > 8:
            memo.clear()
        memo[key] = Model(attack, corpus, platforms_of, features, key)
    model: Model = memo[key]
    return model
