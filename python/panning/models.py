"""Small NumPy classifiers in the scikit-learn ``fit`` / ``predict_proba`` convention.

They make Selection via Proxy work with nothing but NumPy: a softmax (multinomial logistic)
regression for the proxy and a one-hidden-layer MLP for the target over embeddings. Both train
with minibatch Adam for a fixed number of epochs under a seed, accept an ``observer`` in ``fit``
(called after each minibatch's forward pass with the batch's ids and whether each was predicted
right, which is how forgetting events are recorded) and expose ``embed`` (the last hidden layer,
or the input for the linear model) for greedy k-centers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MLPClassifier", "SoftmaxRegression", "as_numpy"]

Observer = Callable[[np.ndarray, np.ndarray], None]


def as_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """numpy view or copy of a numpy array, memory map, torch tensor (any device) or cupy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    elif type(x).__module__.startswith("cupy"):
        x = x.get()
    a = np.asarray(x)
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
