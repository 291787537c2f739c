"""L2-regularised logistic regression fitted by Newton's method, with numpy alone.

The suggestion ranker has about twenty features and a few tens of thousands of rows, so the exact
Newton step (a features x features solve) converges in a handful of iterations. The objective is
the usual one (scikit-learn's ``LogisticRegression(C=...)``, which a test holds it to):
``0.5 * |w|^2 + C * sum(log-loss)``, the intercept not penalised.
"""

from __future__ import annotations

import numpy as np


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0, *, max_iter: int = 100,
                 tol: float = 1e-10) -> tuple[np.ndarray, float]:
    """Weights and intercept minimising ``0.5 * |w|^2 + c * sum(log-loss)`` over rows ``x``, labels ``y``."""
    n, k = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(k + 1, 1.0 / c)
    penalty[-1] = 0.0  # the intercept is free
    beta = np.zeros(k + 1)
    yf = y.astype(float)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(xb @ beta)))
        grad = xb.T @ (p - yf) + penalty * beta
        hess = (xb * (p * (1.0 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess + 1e-12 * np.eye(k + 1), grad)
        beta -= step
        if float(np.abs(step).max()) < tol:
            break
    return beta[:-1], float(beta[-1])
