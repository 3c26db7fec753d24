"""panning: data selection at scale.

Find the few examples worth labeling or training on inside pools of millions to billions, with
Selection via Proxy and SEALS over native CPU (OpenMP + SIMD) and CUDA kernels.
"""

from __future__ import annotations

from typing import Any

from . import _core, reference, svp
from .frontier import Frontier
from .hnsw import HNSWIndex
from .knn import FlatIndex, knn_graph
from .scoring import bald, entropy, least_confidence, margin, most_uncertain
from .seals import Seals, SealsConfig, SessionInUseError

__version__: str = _core.build_info()["version"]

__all__ = [
    "bald",
    "FlatIndex",
    "Frontier",
    "HNSWIndex",
    "__version__",
    "build_info",
    "entropy",
    "knn_graph",
    "least_confidence",
    "margin",
    "most_uncertain",
    "reference",
    "Seals",
    "SealsConfig",
    "SessionInUseError",
    "svp",
]


def build_info() -> dict[str, Any]:
    """How this copy of panning was built and what it can use here.

    Keys: ``version``; ``cuda`` (compiled with CUDA); ``cuda_devices`` (usable devices now, 0 when
    there is no driver or GPU); ``cuda_architectures``; ``openmp``; ``threads`` (OpenMP threads);
    ``simd`` (the instruction set the CPU kernels run: ``avx512``, ``avx2`` or ``generic``; the
    environment variable ``PANNING_SIMD`` can lower it); ``simd_available``.

    Examples
    --------
    >>> import panning
    >>> sorted(panning.build_info())[:4]
    ['cuda', 'cuda_architectures', 'cuda_devices', 'openmp']
    """
    return dict(_core.build_info())
