"""A TF-IDF index of token lists, fitted and queried with numpy alone.

Suggestions fit their indexes once (ATT&CK's text per release, the corpus's signatures per corpus)
and keep them in the cache (terms as JSON, the arrays as raw numbers); ``check`` then only queries them (an inverted index: each term's
documents and weights). The weighting is the usual one (scikit-learn's ``TfidfVectorizer`` with
``sublinear_tf``, which a test holds it to): sublinear term frequency times smooth IDF, each
document L2-normalised, so a query's cosine with every document is one sum per term.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np


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
        counted = [Counter(doc) for doc in documents]
        terms = sorted({t for c in counted for t in c})
        if not terms:
            return cls([], np.zeros(0), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0),
                       len(documents))
        column = {t: k for k, t in enumerate(terms)}
        doc = np.repeat(np.arange(len(counted), dtype=np.int64), [len(c) for c in counted])
        term = np.fromiter((column[t] for c in counted for t in c), dtype=np.int64, count=len(doc))
        tf = 1.0 + np.log(np.fromiter((n for c in counted for n in c.values()), dtype=float, count=len(doc)))
        df = np.bincount(term, minlength=len(terms))
        idf = np.log((1.0 + len(documents)) / (1.0 + df)) + 1.0
        weight = tf * idf[term]
        norm = np.sqrt(np.bincount(doc, weights=weight * weight, minlength=len(documents)))
        weight /= norm[doc]
        order = np.lexsort((doc, term))  # by term, then document: each term's postings in document order
        starts = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        return cls(terms, idf, starts, doc[order], weight[order], len(documents))

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

    def to_parts(self, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The index as a JSON part (terms, size) and arrays named ``prefix.*``, for the cache."""
        arrays = {f"{prefix}.idf": self.idf, f"{prefix}.starts": self.starts, f"{prefix}.docs": self.docs,
                  f"{prefix}.weights": self.weights}
        return {"terms": self.terms, "n_docs": self.n_docs}, arrays

    @classmethod
    def from_parts(cls, doc: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str) -> TermIndex:
        """The index of :meth:`to_parts`; ValueError (or KeyError, TypeError) when they are not one."""
        index = cls(list(doc["terms"]), arrays[f"{prefix}.idf"], arrays[f"{prefix}.starts"],
                    arrays[f"{prefix}.docs"], arrays[f"{prefix}.weights"], int(doc["n_docs"]))
        n = len(index.terms)
        if len(index.idf) != n or len(index.starts) != n + 1 or len(index.docs) != len(index.weights) or \
                index.starts.dtype.kind != "i" or index.docs.dtype.kind != "i" or \
                (n and (index.starts[-1] != len(index.docs) or index.docs.max(initial=0) >= index.n_docs
                        or index.docs.min(initial=0) < 0)):
            raise ValueError("inconsistent term index")
        return index
