"""The numpy TF-IDF index and logistic regression agree with scikit-learn (a dev dependency only)."""

from __future__ import annotations

import numpy as np
import pytest

from falco_coverage.analysis.suggest.logistic import fit_logistic
from falco_coverage.analysis.suggest.term_index import TermIndex


def _docs(seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(words, size=int(rng.integers(0, 25)))) for _ in range(60)]
    docs[3] = []  # an empty document keeps its row
    return docs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_term_index_weights_are_scikit_learns(seed: int) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = _docs(seed)
    index = TermIndex.fit(docs)
    vec = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True)
    ref = vec.fit_transform(docs).tocsc()
    ref.sort_indices()
    assert index.terms == sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
    np.testing.assert_allclose(index.idf, vec.idf_)
    np.testing.assert_array_equal(index.starts, ref.indptr)
    np.testing.assert_array_equal(index.docs, ref.indices)
    np.testing.assert_allclose(index.weights, ref.data)
    queries = [docs[5], ["w1", "w1", "w7", "unknown"], []]
    np.testing.assert_allclose(index.similarities(queries), (vec.transform(queries) @ ref.T).toarray(), atol=1e-12)


def test_term_index_of_nothing_is_empty() -> None:
    index = TermIndex.fit([[], []])
    assert index.terms == [] and index.n_docs == 2
    assert index.similarities([["x"]]).shape == (1, 2)


@pytest.mark.parametrize("c", [0.1, 1.0, 10.0])
def test_logistic_regression_is_scikit_learns(c: float) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 8))
    true = np.array([2.0, -1.0, 0.5, 0.0, 0.0, 1.5, -2.0, 0.3])
    y = (rng.random(3000) < 1 / (1 + np.exp(-(x @ true - 1.0)))).astype(int)
    w, b = fit_logistic(x, y, c)
    ref = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(w, ref.coef_[0], atol=1e-4)
    assert b == pytest.approx(float(ref.intercept_[0]), abs=1e-4)


def test_logistic_regression_on_separable_rows_stays_finite() -> None:
    x = np.array([[0.0], [0.1], [0.9], [1.0]])
    w, b = fit_logistic(x, np.array([0, 0, 1, 1]), 1.0)
    assert np.isfinite(w).all() and np.isfinite(b) and w[0] > 0
