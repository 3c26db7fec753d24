"""Models for SEALS: anything with ``fit(X, y)`` and ``predict_proba(X)``, and a NumPy default.

The default :class:`LogisticRegression` is implemented here in NumPy rather than taken from
scikit-learn, because

- panning's only required dependency is NumPy, and SEALS' main job (a logistic regression over
  fixed embeddings, the model of the SEALS paper) should run on a fresh machine;
- it is deterministic: the same labels give bit-identical probabilities on the same machine,
  which is what lets a resumed session produce exactly the query it would have produced;
- with a few thousand labels and a few hundred dimensions a fit takes milliseconds.

Any scikit-learn classifier (``sklearn.linear_model.LogisticRegression``, an MLP, ...) can be
passed instead; probability columns follow ``model.classes_`` when the model has it, else the
sorted distinct labels it was fitted on.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["LogisticRegression", "Model"]


@runtime_checkable
class Model(Protocol):
    """The scikit-learn classifier convention SEALS relies on."""

    def fit(self, X: Any, y: Any) -> Any: ...  # noqa: N803 (scikit-learn's names)

    def predict_proba(self, X: Any) -> Any: ...  # noqa: N803


class LogisticRegression:
    """Multinomial L2-regularised logistic regression, fitted with L-BFGS, in NumPy.

    Minimises ``C * sum_i -log p(y_i | x_i) + ||W||^2 / 2`` (the intercept is not penalised),
    scikit-learn's objective for ``LogisticRegression(C=C)``. Two classes are fitted in the
    sigmoid form (one weight vector), more classes as a softmax.

    Parameters
    ----------
    C : float
        Inverse regularisation strength (larger fits the labels more closely).
    max_iter : int
        L-BFGS iterations at most.
    tol : float
        Stop when the largest gradient entry falls below ``tol`` times the initial one.

    Attributes
    ----------
    classes_ : ndarray
        The sorted distinct labels seen by :meth:`fit`; the columns of :meth:`predict_proba`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> m = LogisticRegression(C=10.0).fit(X, y)
    >>> m.classes_.tolist(), m.predict_proba(np.array([[0.0], [3.0]])).argmax(1).tolist()
    ([0, 1], [0, 1])
    """

    def __init__(self, C: float = 1.0, *, max_iter: int = 200, tol: float = 1e-5) -> None:  # noqa: N803
        if C <= 0:
            raise ValueError(f"C must be positive, got {C}")
        self.C = float(C)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self.coef_: np.ndarray = np.empty((0, 0))
        self.intercept_: np.ndarray = np.empty(0)

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LogisticRegression:  # noqa: N803
        """Fit on ``X [n, d]`` and integer labels ``y [n]``; returns ``self``."""
        x = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y)
        if x.ndim != 2 or labels.shape != (x.shape[0],):
            raise ValueError(f"X must be [n, d] and y [n]; got {x.shape} and {labels.shape}")
        self.classes_, yi = np.unique(labels, return_inverse=True)
        n, d = x.shape
        kc = self.classes_.shape[0]
        if kc < 2:  # nothing to separate: certainty for the one class seen
            self.coef_, self.intercept_ = np.zeros((kc, d)), np.zeros(kc)
            return self
        if kc == 2:
            self._fit_binary(x, yi.astype(np.float64))
            return self
        onehot = np.zeros((n, kc))
        onehot[np.arange(n), yi] = 1.0
        c = self.C

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            coef, b = w[: kc * d].reshape(kc, d), w[kc * d :]
            z = x @ coef.T + b
            z -= z.max(axis=1, keepdims=True)
            logsum = np.log(np.exp(z).sum(axis=1))
            p = np.exp(z - logsum[:, None])
            loss = c * float((logsum - z[np.arange(n), yi]).sum()) + 0.5 * float(
                (coef * coef).sum()
            )
            r = c * (p - onehot)
            grad = np.concatenate([(r.T @ x + coef).ravel(), r.sum(axis=0)])
            return loss, grad

        w = _lbfgs(objective, np.zeros(kc * d + kc), max_iter=self.max_iter, tol=self.tol)
        self.coef_, self.intercept_ = w[: kc * d].reshape(kc, d), w[kc * d :]
        return self

    def _fit_binary(self, x: np.ndarray, t: np.ndarray) -> None:
        # The sigmoid form with one weight vector: a softmax over two columns would halve the
        # effective penalty, and scikit-learn penalises the single vector.
        n, d = x.shape
        sign = 2.0 * t - 1.0
        c = self.C

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            coef, b = w[:d], w[d]
            m = sign * (x @ coef + b)
            loss = c * float(np.logaddexp(0.0, -m).sum()) + 0.5 * float(coef @ coef)
            r = -c * sign * np.exp(-np.logaddexp(0.0, m))  # d loss / d z = -s * sigmoid(-m)
            return loss, np.concatenate([x.T @ r + coef, [r.sum()]])

        w = _lbfgs(objective, np.zeros(d + 1), max_iter=self.max_iter, tol=self.tol)
        # Two logit columns [-z/2, z/2] give softmax probabilities [1 - sigmoid(z), sigmoid(z)].
        self.coef_ = np.stack([-w[:d] / 2, w[:d] / 2])
        self.intercept_ = np.array([-w[d] / 2, w[d] / 2])

    def decision_function(self, X: npt.ArrayLike) -> np.ndarray:  # noqa: N803
        """Logits ``[n, classes]``."""
        x = np.asarray(X, dtype=np.float64)
        return np.asarray(x @ self.coef_.T + self.intercept_)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:  # noqa: N803
        """Class probabilities ``float64 [n, classes]`` in the order of :attr:`classes_`."""
        if self.classes_.shape[0] == 0:
            raise RuntimeError("fit the model before predict_proba")
        z = self.decision_function(X)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return np.asarray(p)


def _lbfgs(f: Any, w0: np.ndarray, *, max_iter: int, tol: float, memory: int = 10) -> np.ndarray:
    """Minimise a smooth convex ``f(w) -> (value, gradient)`` by L-BFGS with Armijo steps."""
    w = w0.copy()
    fw, g = f(w)
    g0 = max(float(np.abs(g).max()), 1e-300)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    for _ in range(max_iter):
        if float(np.abs(g).max()) <= tol * g0:
            break
        # two-loop recursion: d = -H g
        q = g.copy()
        alphas = []
        for s, yv in zip(reversed(s_hist), reversed(y_hist)):
            a = float(s @ q) / float(yv @ s)
            alphas.append(a)
            q -= a * yv
        if s_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        else:
            q /= max(float(np.linalg.norm(g)), 1e-300)
        for (s, yv), a in zip(zip(s_hist, y_hist), reversed(alphas)):
            b = float(yv @ q) / float(yv @ s)
            q += (a - b) * s
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            direction, slope = -g, -float(g @ g)
        step = 1.0
        for _ in range(40):
            w_new = w + step * direction
            f_new, g_new = f(w_new)
            if f_new <= fw + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s, yv = w_new - w, g_new - g
        if float(s @ yv) > 1e-12:
            s_hist.append(s)
            y_hist.append(yv)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        w, fw, g = w_new, f_new, g_new
    return w
