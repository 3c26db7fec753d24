"""Array frameworks and CUDA devices: the one place that knows torch and cupy apart.

Detection (:func:`framework`, :func:`is_torch`, :func:`is_cupy`, :func:`on_cuda`) never imports a
framework the caller has not imported itself: an object can only be a torch tensor once torch is
in ``sys.modules``. :class:`Device` allocates and copies memory on one CUDA device and names its
pointers and stream, through torch or cupy (whichever the caller's arrays belong to; torch first
when there is no array to follow). Every GPU route goes through it: the exact kNN graph
(:mod:`panning.knn`), the HNSW build (:mod:`panning.hnsw_build`), batched HNSW search
(:mod:`panning.hnsw`) and the frontier (:mod:`panning.frontier`).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import _core

__all__ = ["Device", "framework", "is_cupy", "is_torch", "on_cuda", "pointer", "to_numpy"]


def is_torch(x: Any) -> bool:
    """True for a torch tensor (without importing torch when the caller has not)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def is_cupy(x: Any) -> bool:
    """True for a cupy array (without importing cupy when the caller has not)."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def framework(x: Any) -> str:
    """``"torch"``, ``"cupy"`` or ``"numpy"`` (anything that is neither a torch tensor nor a cupy
    array, lists included)."""
    if is_torch(x):
        return "torch"
    if is_cupy(x):
        return "cupy"
    return "numpy"


def on_cuda(x: Any) -> bool:
    """True for a torch tensor or cupy array on a CUDA device."""
    return bool((is_torch(x) and x.is_cuda) or is_cupy(x))


def to_numpy(x: Any) -> np.ndarray:
    """A numpy array of ``x``: torch tensors (any device) and cupy arrays are copied to the host,
    numpy arrays and memory maps are returned as they are, anything else goes through
    ``numpy.asarray``."""
    if is_torch(x):
        x = x.detach().cpu().numpy()
    elif is_cupy(x):
        x = x.get()
    return np.asarray(x)


def pointer(a: Any) -> int:
    """Device address of a torch tensor's or cupy array's first element."""
    return int(a.data_ptr()) if is_torch(a) else int(a.data.ptr)


class Device:
    """Allocation, copies, pointers and the stream on one CUDA device, through torch or cupy.

    Parameters
    ----------
    like : array or None
        A torch or cupy array whose framework and device to use; None (or a host array) picks
        torch when it is installed, else cupy, on ``device``.
    device : str
        ``"cuda"`` or ``"cuda:i"``; ignored when ``like`` is a CUDA array.
    """

    def __init__(self, like: Any, device: str = "cuda") -> None:
        if not _core.build_info()["cuda"]:
            raise RuntimeError("panning was built without CUDA; use device='cpu'")
        if not device.startswith("cuda"):
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:i]'")
        self.index = int(device.split(":")[1]) if ":" in device else 0
        if is_torch(like) and like.is_cuda:
            self.index = int(like.device.index or 0)
        if is_cupy(like):
            self.index = int(like.device.id)
        self.where = f"cuda:{self.index}"  # torch's name of the device
        self.torch: Any = None
        self.cupy: Any = None
        if is_cupy(like):
            import cupy

            self.cupy = cupy
        else:
            try:
                import torch
            except ImportError:
                try:
                    import cupy
                except ImportError:
                    raise RuntimeError("GPU work needs torch or cupy for device arrays") from None
                self.cupy = cupy
            else:
                if not torch.cuda.is_available():
                    raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device")
                self.torch = torch

    @classmethod
    def of(cls, x: Any) -> Device:
        """The device and framework of a torch or cupy CUDA array."""
        index = int(x.device.index or 0) if is_torch(x) else int(x.device.id)
        return cls(x, f"cuda:{index}")

    @property
    def framework(self) -> str:
        """``"torch"`` or ``"cupy"``."""
        return "torch" if self.torch is not None else "cupy"

    @property
    def stream(self) -> int:
        """The framework's current stream on this device (0: the legacy default stream)."""
        if self.torch is not None:
            return int(self.torch.cuda.current_stream(self.index).cuda_stream)
        with self.cupy.cuda.Device(self.index):
            return int(self.cupy.cuda.get_current_stream().ptr)

    def empty(self, shape: tuple[int, ...], dtype: str) -> Any:
        """An uninitialised device array (``uint32`` is held as torch's int32)."""
        if self.torch is not None:
            tdt = getattr(self.torch, "int32" if dtype == "uint32" else dtype)
            return self.torch.empty(shape, dtype=tdt, device=self.where)
        with self.cupy.cuda.Device(self.index):
            return self.cupy.empty(shape, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype: str) -> Any:
        """A zeroed device array."""
        out = self.empty(shape, dtype)
        if self.torch is not None:
            return out.zero_()
        with self.cupy.cuda.Device(self.index):
            out.fill(0)
        return out

    def put(self, a: np.ndarray) -> Any:
        """A device copy of a host array (uint32 travels as torch's int32, bfloat16 as bits)."""
        a = np.ascontiguousarray(a)
        if self.torch is not None:
            if a.dtype.name == "bfloat16":  # ml_dtypes: torch reads its bits
                bits = self.torch.from_numpy(a.view(np.uint16).view(np.int16))
                return bits.view(self.torch.bfloat16).to(self.where)
            src = a.view(np.int32) if a.dtype == np.uint32 else a
            return self.torch.from_numpy(src).to(self.where)
        with self.cupy.cuda.Device(self.index):
            return self.cupy.asarray(a)

    def get(self, a: Any, dtype: Any = None) -> np.ndarray:
        """A host copy of a device array, its bits viewed as ``dtype`` when given."""
        out: np.ndarray = a.cpu().numpy() if self.torch is not None else self.cupy.asnumpy(a)
        return out.view(dtype) if dtype is not None else out

    def assign(self, dst: Any, src: np.ndarray) -> None:
        """Copy a host array into an existing device array of the same shape and dtype."""
        if self.torch is not None:
            dst.copy_(self.torch.from_numpy(np.ascontiguousarray(src)))
        else:
            with self.cupy.cuda.Device(self.index):
                dst[...] = self.cupy.asarray(src)

    ptr = staticmethod(pointer)

    def half(self, a: Any) -> Any:
        """A float16 copy of a device array."""
        return a.half() if self.torch is not None else a.astype(self.cupy.float16)

    def gather(self, a: Any, rows: np.ndarray) -> Any:
        """Rows of a device matrix as a new contiguous device matrix."""
        idx = self.put(rows.astype(np.int64))
        if self.torch is not None:
            return a[idx].contiguous()
        return self.cupy.ascontiguousarray(a[idx])

    def synchronize(self) -> None:
        """Wait for the work queued on this device."""
        if self.torch is not None:
            self.torch.cuda.synchronize(self.index)
        else:
            with self.cupy.cuda.Device(self.index):
                self.cupy.cuda.get_current_stream().synchronize()
