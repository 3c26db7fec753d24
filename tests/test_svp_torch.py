"""The torch adapter, and Selection via Proxy over torch tensors and datasets (needs torch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from panning.forgetting import ForgettingCounter  # noqa: E402
from panning.models_torch import TorchClassifier  # noqa: E402
from panning.svp import active_learning, coreset  # noqa: E402


def blobs(n=300, classes=3, dims=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, dims))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, dims))).astype(np.float32), y


def mlp(width=16, dims=4, classes=3):
    return torch.nn.Sequential(
        torch.nn.Linear(dims, width), torch.nn.ReLU(), torch.nn.Linear(width, classes)
    )


class WithEmbed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 3)

    def embed(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def clf(**kw):
    kw = {"epochs": 3, "batch_size": 32, "device": "cpu", **kw}
    return TorchClassifier(mlp, **kw)


def test_fit_is_reproducible_and_from_scratch():
    x, y = blobs()
    a = clf().fit(x, y).predict_proba(x)
    b = clf().fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (300, 3)
    model = clf()
    model.fit(x, y)
    first = model.module_
    model.fit(x, y)
    assert model.module_ is not first


def test_embed_hooks_and_derive():
    x, y = blobs()
    assert clf().fit(x, y).embed(x).shape == (300, 16)
    custom = TorchClassifier(WithEmbed, epochs=1, device="cpu").fit(x, y)
    assert custom.embed(x).shape == (300, 8)
    proxy = clf(factory_kwargs={"width": 32}).derive(epochs=1, width=4)
    assert proxy.epochs == 1 and proxy.factory_kwargs == {"width": 4}
    assert proxy.fit(x, y).embed(x).shape == (300, 4)

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(TypeError, match="embed"):
        TorchClassifier(Plain, epochs=1, device="cpu").fit(x, y).embed(x)


def test_observer_sees_every_example_each_epoch():
    x, y = blobs(n=100)
    counter = ForgettingCounter(100)
    clf().fit(x, y, observer=counter)
    assert counter.seen.tolist() == [3] * 100


def test_tensor_pool_matches_numpy_pool():
    x, y = blobs()
    kwargs = dict(initial=30, schedule=[60, 90], strategy="least_confidence", seed=1)
    a = active_learning(x, y, proxy=clf(), **kwargs)
    b = active_learning(torch.from_numpy(x), torch.from_numpy(y), proxy=clf(), **kwargs)
    assert a.labeled.tolist() == b.labeled.tolist()


def test_tensor_outputs_are_scored_by_the_kernels():
    x, y = blobs()
    kwargs = dict(initial=30, schedule=[60], strategy="margin", seed=1)
    a = active_learning(x, y, proxy=clf(), **kwargs)
    b = active_learning(x, y, proxy=clf(return_tensors=True), **kwargs)
    c = active_learning(x, y, proxy=clf(return_tensors=True), chunk_rows=50, **kwargs)
    assert a.labeled.tolist() == b.labeled.tolist() == c.labeled.tolist()


def test_dataset_pool_kcenters_and_coreset():
    x, y = blobs(n=200)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    run = active_learning(
        ds,
        y,
        proxy=clf(),
        initial=20,
        schedule=[50],
        strategy="kcenters",
        target=clf(),
        x_test=ds,
        y_test=y,
    )
    assert run.labeled.size == 50 and run.final_accuracy is not None
    res = coreset(
        ds,
        y,
        proxy=clf(),
        keep=0.5,
        strategy="forgetting",
        target=clf(epochs=10),
        x_test=x,
        y_test=y,
    )
    assert res.kept.size == 100 and res.target_accuracy is not None
    assert res.scores is not None and np.isfinite(res.scores).sum() > 0
    kept_events = res.scores[res.kept]
    assert np.all(kept_events[:-1] >= kept_events[1:])  # most forgotten first
    # (keeping only the hardest half can hurt a target on easy data: no accuracy bound here)


def test_wrong_labels():
    x, y = blobs(n=50)
    with pytest.raises(ValueError, match="labels"):
        clf().fit(x, y[:10])
    with pytest.raises(RuntimeError, match="not fitted"):
        clf().predict_proba(x)


@pytest.mark.gpu
def test_cuda_tensors():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    x, y = blobs()
    kwargs = dict(initial=30, schedule=[60], strategy="entropy", seed=1)
    cpu = active_learning(x, y, proxy=clf(), **kwargs)
    gpu_clf = TorchClassifier(mlp, epochs=3, batch_size=32, device="cuda", return_tensors=True)
    gpu = active_learning(torch.from_numpy(x).cuda(), y, proxy=gpu_clf, **kwargs)
    assert len(set(cpu.labeled.tolist()) & set(gpu.labeled.tolist())) >= 55
