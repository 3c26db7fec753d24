"""A scikit-learn-style adapter for ``torch.nn.Module`` factories, for proxies and targets.

``TorchClassifier(factory, epochs=..., batch_size=..., device=...)`` builds a fresh module from
``factory(**factory_kwargs)`` at every ``fit`` (so Selection via Proxy can train from scratch each
round), trains it with SGD + momentum and a cosine learning-rate schedule, and exposes
``predict_proba`` (numpy by default, or a tensor on the model's device with
``return_tensors=True`` so panning's CUDA kernels score it in place), ``predict``, ``classes_``,
``embed`` (penultimate features for k-centers) and an ``observer`` hook in ``fit`` for forgetting
events. :meth:`TorchClassifier.derive` makes a proxy from a target: fewer epochs, a smaller width.

Inputs may be numpy arrays or memory maps, torch tensors (CPU or CUDA) or a torch ``Dataset``
yielding ``(x, y)`` pairs (``y`` is then ignored in favour of the labels given to ``fit``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from .models import as_numpy

__all__ = ["TorchClassifier"]

Observer = Callable[[np.ndarray, np.ndarray], None]


def _rows(x: Any, ids: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows ``ids`` of an array, tensor or (x, y) Dataset as a float tensor on ``device``."""
    if isinstance(x, torch.Tensor):
        out = x[torch.as_tensor(ids, device=x.device)]
    elif isinstance(x, torch.utils.data.Dataset):
        items = [x[int(i)] for i in ids]
        first = [it[0] if isinstance(it, (tuple, list)) else it for it in items]
        out = torch.stack([torch.as_tensor(v) for v in first])
    else:
        out = torch.from_numpy(np.ascontiguousarray(np.asarray(x[ids])))
    if not out.is_floating_point():
        out = out.float()
    return out.to(device, non_blocking=True)


def _length(x: Any) -> int:
    if isinstance(x, torch.utils.data.Dataset):
        return len(x)  # type: ignore[arg-type]  # map-style datasets define __len__
    return int(x.shape[0])


class TorchClassifier:
    """Train a module made by ``factory`` with the scikit-learn ``fit`` / ``predict_proba`` API.

    Parameters
    ----------
    factory : callable returning an ``nn.Module`` that maps a batch to logits. If the module has
        an ``embed(x)`` method it gives the k-centers features; an ``nn.Sequential`` uses the
        output of all but its last layer.
    epochs, batch_size, lr, momentum, weight_decay : SGD with Nesterov momentum and a cosine
        learning-rate decay to 0 over ``epochs``.
    device : ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when available.
    seed : seeds initialisation and shuffling (``torch.manual_seed`` + a numpy generator).
    eval_batch_size : rows per forward pass in ``predict_proba`` / ``embed``.
    return_tensors : ``predict_proba`` and ``embed`` return tensors on the device instead of
        numpy arrays.
    factory_kwargs : keyword arguments for ``factory`` (e.g. a width).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from panning.models_torch import TorchClassifier
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(-2, 1, (64, 2)), rng.normal(2, 1, (64, 2))].astype(np.float32)
    >>> y = np.r_[np.zeros(64, int), np.ones(64, int)]
    >>> make = lambda width=8: torch.nn.Sequential(
    ...     torch.nn.Linear(2, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))
    >>> clf = TorchClassifier(make, epochs=10, batch_size=32, device="cpu").fit(x, y)
    >>> bool((clf.predict(x) == y).mean() > 0.9), clf.embed(x).shape
    (True, (128, 8))
    >>> proxy = clf.derive(epochs=2, width=4)
    >>> proxy.epochs, proxy.factory_kwargs
    (2, {'width': 4})
    """

    def __init__(
        self,
        factory: Callable[..., nn.Module],
        *,
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        device: str | torch.device | None = None,
        seed: int = 0,
        eval_batch_size: int = 1024,
        return_tensors: bool = False,
        factory_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not callable(factory):
            raise TypeError("factory must be a callable returning an nn.Module")
        self.factory = factory
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.device = device
        self.seed = int(seed)
        self.eval_batch_size = int(eval_batch_size)
        self.return_tensors = bool(return_tensors)
        self.factory_kwargs = dict(factory_kwargs or {})
        self.classes_: np.ndarray | None = None
        self.module_: nn.Module | None = None

    def derive(self, **changes: Any) -> TorchClassifier:
        """An untrained copy with some settings changed; unknown keys go to ``factory_kwargs``.

        ``target.derive(epochs=5)`` is a fewer-epochs proxy, ``target.derive(width=16)`` a
        narrower one (when the factory takes ``width``).
        """
        new = copy.copy(self)
        new.factory_kwargs = dict(self.factory_kwargs)
        new.classes_ = None
        new.module_ = None
        for key, value in changes.items():
            if key in ("factory", "classes_", "module_"):
                raise ValueError(f"derive cannot change {key}")
            if hasattr(new, key) and key != "factory_kwargs":
                setattr(new, key, type(getattr(self, key))(value) if key != "device" else value)
            else:
                new.factory_kwargs[key] = value
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> TorchClassifier:
        # Models are copied untrained between rounds; the factory is shared, never deep-copied.
        return self.derive()

    def _device(self) -> torch.device:
        if self.device is not None:
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def _batches(self, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
        order = rng.permutation(n)
        for s in range(0, n, self.batch_size):
            yield order[s : s + self.batch_size]

    def fit(self, x: Any, y: Any, *, observer: Observer | None = None) -> TorchClassifier:
        """Build a fresh module and train it for ``epochs`` on ``x``, ``y``; returns ``self``."""
        labels = as_numpy(y).ravel()
        n = _length(x)
        if labels.shape[0] != n:
            raise ValueError(f"x has {n} rows but y has {labels.shape[0]} labels")
        if n == 0:
            raise ValueError("cannot fit on zero rows")
        classes, codes = np.unique(labels, return_inverse=True)
        self.classes_ = classes
        device = self._device()
        torch.manual_seed(self.seed)
        module = self.factory(**self.factory_kwargs).to(device)
        codes_t = torch.as_tensor(codes.astype(np.int64), device=device)
        opt = torch.optim.SGD(
            module.parameters(),
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            nesterov=self.momentum > 0,
        )
        steps = max(1, self.epochs * ((n + self.batch_size - 1) // self.batch_size))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        loss_fn = nn.CrossEntropyLoss()
        rng = np.random.default_rng(self.seed)
        module.train()
        for _ in range(self.epochs):
            for ids in self._batches(n, rng):
                xb = _rows(x, ids, device)
                yb = codes_t[torch.as_tensor(ids, device=device)]
                logits = module(xb)
                if logits.shape[1] < classes.size:
                    raise ValueError(
                        f"the module outputs {logits.shape[1]} logits but the labels have "
                        f"{classes.size} classes"
                    )
                loss = loss_fn(logits, yb)
                if observer is not None:
                    correct = (logits.detach().argmax(dim=1) == yb).cpu().numpy()
                    observer(ids, correct)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        module.eval()
        self.module_ = module
        return self

    def _check_fitted(self) -> nn.Module:
        if self.module_ is None:
            raise RuntimeError("TorchClassifier is not fitted; call fit first")
        return self.module_

    def _map(self, x: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
        module = self._check_fitted()
        device = next(module.parameters()).device
        n = _length(x)
        outs = []
        with torch.no_grad():
            for s in range(0, n, self.eval_batch_size):
                ids = np.arange(s, min(n, s + self.eval_batch_size))
                outs.append(fn(_rows(x, ids, device)))
        out = torch.cat(outs) if outs else torch.empty(0, device=device)
        return out if self.return_tensors else out.cpu().numpy()

    def predict_proba(self, x: Any) -> Any:
        """float32 [n, classes] softmax probabilities (columns follow ``classes_``)."""
        module = self._check_fitted()
        assert self.classes_ is not None
        k = self.classes_.size
        return self._map(x, lambda b: torch.softmax(module(b)[:, :k].float(), dim=1))

    def predict(self, x: Any) -> np.ndarray:
        """Most probable class label per row (numpy)."""
        proba = as_numpy(self.predict_proba(x))
        assert self.classes_ is not None
        return np.asarray(self.classes_[proba.argmax(axis=1)])

    def embed(self, x: Any) -> Any:
        """Penultimate features: ``module.embed(x)``, or all but the last layer of a Sequential."""
        module = self._check_fitted()
        hook = getattr(module, "embed", None)
        if callable(hook):
            return self._map(x, lambda b: hook(b).flatten(1).float())
        if isinstance(module, nn.Sequential) and len(module) > 1:
            body = module[:-1]
            return self._map(x, lambda b: body(b).flatten(1).float())
        raise TypeError(
            f"{type(module).__name__} has no embed(x) method and is not an nn.Sequential; "
            "add an embed method returning penultimate features to use k-centers"
        )
