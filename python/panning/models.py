"""Classifiers in the scikit-learn ``fit`` / ``predict_proba`` convention, in NumPy alone.

panning's only required dependency is NumPy, so its main jobs run on a fresh machine:

- :class:`LogisticRegression` (L-BFGS, the model of the SEALS paper) is SEALS' default. It is
  deterministic: the same labels give bit-identical probabilities on the same machine, which is
  what lets a resumed session produce exactly the query it would have produced; with a few
  thousand labels over a few hundred dimensions a fit takes milliseconds.
- :class:`SoftmaxRegression` and :class:`MLPClassifier` (minibatch Adam for a fixed number of
  epochs under a seed) are Selection via Proxy's linear proxy and MLP target over embeddings.
  Their ``fit`` accepts an ``observer`` (called after each minibatch's forward pass with the
  batch's ids and whether each was predicted right: how forgetting events are recorded) and they
  expose ``embed`` (the last hidden layer, or the input for the linear model) for k-centers.

Any scikit-learn classifier can be passed instead wherever a model is taken; probability columns
follow ``model.classes_`` when the model has it, else the sorted distinct labels it was fitted on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ._device import to_numpy

__all__ = ["LogisticRegression", "MLPClassifier", "Model", "SoftmaxRegression", "as_numpy"]


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
        self._coef32: np.ndarray | None = None  # coef_.T in float32, for float32 inputs

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LogisticRegression:  # noqa: N803
        """Fit on ``X [n, d]`` and integer labels ``y [n]``; returns ``self``."""
        self._coef32 = None
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
        """Logits ``float64 [n, classes]``.

        float16 / float32 inputs are multiplied in float32 (single precision BLAS, no float64
        copy of ``X``: half the bytes and twice the speed of a float64 product, the cost of
        scoring a large pool); other inputs in float64.
        """
        x = np.asarray(X)
        if x.dtype in (np.float16, np.float32):
            w = getattr(self, "_coef32", None)  # (absent on models unpickled from older panning)
            if w is None:
                w = self._coef32 = np.ascontiguousarray(self.coef_.T, dtype=np.float32)
            z = np.asarray(x.astype(np.float32, copy=False) @ w, dtype=np.float64)
            return np.asarray(z + self.intercept_)
        x = np.asarray(x, dtype=np.float64)
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


Observer = Callable[[np.ndarray, np.ndarray], None]


def as_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """numpy view or copy of a numpy array, memory map, torch tensor (any device) or cupy array."""
    a = to_numpy(x)
    return a if dtype is None else a.astype(dtype, copy=False)


class MLPClassifier:
    """Softmax classifier with ``hidden`` ReLU layers, trained by minibatch Adam in float32.

    Parameters
    ----------
    hidden : sequence of int
        Widths of the hidden layers; ``()`` is multinomial logistic regression.
    epochs, batch_size, lr, weight_decay : training schedule (L2 penalty on weights).
    seed : int
        Seeds initialisation and shuffling; two fits with the same seed and data are identical.

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(-2, 1, (50, 2)), rng.normal(2, 1, (50, 2))].astype(np.float32)
    >>> y = np.r_[np.zeros(50, int), np.ones(50, int)]
    >>> model = MLPClassifier(hidden=(8,), epochs=30, seed=0).fit(x, y)
    >>> bool((model.predict(x) == y).mean() > 0.9)
    True
    """

    def __init__(
        self,
        hidden: Sequence[int] = (256,),
        *,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.seed = int(seed)
        self.classes_: np.ndarray | None = None
        self._weights: list[np.ndarray] = []
        self._biases: list[np.ndarray] = []

    def get_params(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- training ---------------------------------------------------------------------------

    def _forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        acts = [x]
        h = x
        for w, b in zip(self._weights[:-1], self._biases[:-1]):
            h = np.maximum(h @ w + b, 0.0)
            acts.append(h)
        logits = h @ self._weights[-1] + self._biases[-1]
        return acts, logits

    def fit(
        self, x: npt.ArrayLike, y: npt.ArrayLike, *, observer: Observer | None = None
    ) -> MLPClassifier:
        """Train from scratch on ``x`` [n, d] and labels ``y`` [n]; returns ``self``."""
        xa = as_numpy(x)
        ya = as_numpy(y).ravel()
        if xa.ndim != 2:
            raise ValueError(f"x must be 2-D [rows, features], got shape {xa.shape}")
        if xa.shape[0] != ya.shape[0]:
            raise ValueError(f"x has {xa.shape[0]} rows but y has {ya.shape[0]} labels")
        if xa.shape[0] == 0:
            raise ValueError("cannot fit on zero rows")
        classes, codes = np.unique(ya, return_inverse=True)
        self.classes_ = classes
        n, d = xa.shape
        k = classes.size
        rng = np.random.default_rng(self.seed)
        sizes = [d, *self.hidden, k]
        self._weights = [
            (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
            for a, b in zip(sizes[:-1], sizes[1:])
        ]
        self._weights[-1] *= 0.1
        self._biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
        params = self._weights + self._biases
        m1 = [np.zeros_like(p) for p in params]
        m2 = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        step = 0
        n_layers = len(self._weights)
        for _ in range(self.epochs):
            order = rng.permutation(n)
            for s in range(0, n, self.batch_size):
                ids = order[s : s + self.batch_size]
                xb = np.asarray(xa[ids], dtype=np.float32)  # memory maps read only the batch
                yb = codes[ids]
                acts, logits = self._forward(xb)
                logits -= logits.max(axis=1, keepdims=True)
                p = np.exp(logits)
                p /= p.sum(axis=1, keepdims=True)
                if observer is not None:
                    observer(ids, p.argmax(axis=1) == yb)
                g = p
                g[np.arange(ids.size), yb] -= 1.0
                g /= ids.size
                grads_w: list[np.ndarray] = [np.empty(0, np.float32)] * n_layers
                grads_b: list[np.ndarray] = [np.empty(0, np.float32)] * n_layers
                for layer in range(n_layers - 1, -1, -1):
                    grads_w[layer] = acts[layer].T @ g + self.weight_decay * self._weights[layer]
                    grads_b[layer] = g.sum(axis=0)
                    if layer:
                        g = (g @ self._weights[layer].T) * (acts[layer] > 0)
                step += 1
                c1 = 1.0 - beta1**step
                c2 = 1.0 - beta2**step
                for i, (p_, g_) in enumerate(zip(params, grads_w + grads_b)):
                    m1[i] *= beta1
                    m1[i] += (1 - beta1) * g_
                    m2[i] *= beta2
                    m2[i] += (1 - beta2) * g_ * g_
                    p_ -= (self.lr / c1) * m1[i] / (np.sqrt(m2[i] / c2) + eps)
        return self

    # ---- inference --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if self.classes_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first")

    def _logits(self, x: npt.ArrayLike, batch: int = 65536) -> np.ndarray:
        self._check_fitted()
        xa = as_numpy(x)
        out = np.empty((xa.shape[0], self._weights[-1].shape[1]), dtype=np.float32)
        for s in range(0, xa.shape[0], batch):
            out[s : s + batch] = self._forward(np.asarray(xa[s : s + batch], np.float32))[1]
        return out

    def predict_proba(self, x: npt.ArrayLike) -> np.ndarray:
        """float32 [n, classes] probabilities; columns follow ``classes_``."""
        z = self._logits(x)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict(self, x: npt.ArrayLike) -> np.ndarray:
        """Most probable class label per row."""
        logits = self._logits(x)
        assert self.classes_ is not None
        return np.asarray(self.classes_[logits.argmax(axis=1)])

    def embed(self, x: npt.ArrayLike, batch: int = 65536) -> np.ndarray:
        """float32 [n, width]: the last hidden layer's activations (the input when linear)."""
        self._check_fitted()
        xa = as_numpy(x)
        width = self._weights[-1].shape[0]
        out = np.empty((xa.shape[0], width), dtype=np.float32)
        for s in range(0, xa.shape[0], batch):
            out[s : s + batch] = self._forward(np.asarray(xa[s : s + batch], np.float32))[0][-1]
        return out


class SoftmaxRegression(MLPClassifier):
    """Multinomial logistic regression: :class:`MLPClassifier` with no hidden layer.

    Examples
    --------
    >>> import numpy as np
    >>> from panning.models import SoftmaxRegression
    >>> x = np.array([[0.0], [0.2], [1.0], [1.2]], dtype=np.float32)
    >>> SoftmaxRegression(epochs=200, lr=0.05).fit(x, [0, 0, 1, 1]).predict(x).tolist()
    [0, 0, 1, 1]
    """

    def __init__(
        self,
        *,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 2e-2,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__(
            (), epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed
        )

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        del params["hidden"]
        return params
