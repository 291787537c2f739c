"""A TF-IDF index of token lists that is fitted with scikit-learn and queried with numpy alone.

Suggestions fit their indexes once (ATT&CK's text per release, the corpus's signatures per corpus)
and keep them in the cache as JSON; ``check`` then only queries them. Querying with numpy (an
inverted index: each term's documents and weights) spares it scikit-learn's import, which takes
longer than the whole check. The weights are scikit-learn's: sublinear term frequency times smooth
IDF, each document L2-normalised, so a query's cosine with every document is one sum per term.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np


def _identity(doc: list[str]) -> list[str]:
    return doc


@dataclass
class TermIndex:
    """Terms -> columns, their IDF, and per term the documents holding it with their weights."""

    terms: list[str]
    idf: np.ndarray
    #: CSC layout: documents of term ``k`` are ``docs[starts[k]:starts[k + 1]]``, weights in ``weights``
    starts: np.ndarray
    docs: np.ndarray
    weights: np.ndarray
    n_docs: int

    def __post_init__(self) -> None:
        self.column = {t: k for k, t in enumerate(self.terms)}
        self._by_doc: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def fit(cls, documents: list[list[str]]) -> TermIndex:
        """The index of ``documents`` (token lists); an empty one when they hold no token at all."""
        if not any(documents):
            return cls([], np.zeros(0), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0),
                       len(documents))
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
        csc = vec.fit_transform(documents).tocsc()
        csc.sort_indices()
        terms = [""] * len(vec.vocabulary_)
        for term, k in vec.vocabulary_.items():
            terms[k] = term
        return cls(terms, np.asarray(vec.idf_, dtype=float), csc.indptr.astype(np.int64),
                   csc.indices.astype(np.int64), csc.data.astype(float), len(documents))

    def vector(self, tokens: list[str]) -> dict[int, float]:
        """A query's weights by column (terms the index does not know are dropped)."""
        counts = Counter(t for t in tokens if t in self.column)
        raw = {self.column[t]: (1.0 + math.log(n)) * float(self.idf[self.column[t]]) for t, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in raw.values()))
        return {k: w / norm for k, w in raw.items()} if norm else {}

    def similarities(self, queries: list[list[str]]) -> np.ndarray:
        """(queries x documents) cosine similarities."""
        out = np.zeros((len(queries), self.n_docs))
        for q, tokens in enumerate(queries):
            row = out[q]
            for k, w in self.vector(tokens).items():
                s, e = self.starts[k], self.starts[k + 1]
                row[self.docs[s:e]] += w * self.weights[s:e]
        return out

    def document_terms(self, j: int) -> set[str]:
        """The terms of document ``j`` (for the evidence: what a query shares with it)."""
        if self._by_doc is None:  # built once (vectorised): evidence asks for several documents per rule
            order = np.argsort(self.docs, kind="stable")
            term_of = np.repeat(np.arange(len(self.terms)), np.diff(self.starts))[order]
            bounds = np.searchsorted(self.docs[order], np.arange(self.n_docs + 1))
            self._by_doc = (term_of, bounds)
        term_of, bounds = self._by_doc
        return {self.terms[k] for k in term_of[bounds[j]:bounds[j + 1]].tolist()}

    def to_json(self) -> dict[str, Any]:
        return {"terms": self.terms, "idf": self.idf.tolist(), "starts": self.starts.tolist(),
                "docs": self.docs.tolist(), "weights": self.weights.tolist(), "n_docs": self.n_docs}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TermIndex:
        return cls(list(doc["terms"]), np.asarray(doc["idf"], dtype=float), np.asarray(doc["starts"], dtype=np.int64),
                   np.asarray(doc["docs"], dtype=np.int64), np.asarray(doc["weights"], dtype=float),
                   int(doc["n_docs"]))
