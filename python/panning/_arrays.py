"""Framework adapters: numpy, torch (CPU/CUDA) and cupy arrays described once for the kernels.

The kernels take a pointer, a shape, strides in elements, a dtype code and (on the GPU) a device
and a stream. Nothing here copies the input: CPU tensors are viewed as numpy arrays, GPU arrays are
read through ``data_ptr()`` / ``__cuda_array_interface__`` and processed on their own stream.

Dtype policy (the one rule for the whole package; ``tests/test_dtype_policy.py`` checks it for
every entry point):

* **Floating inputs are accepted as they are.** float32, float16, bfloat16 and float64 arrays
  from numpy (memory-mapped too), torch and cupy are read in place, never cast behind the
  caller's back. Python lists and other array-likes go through ``numpy.asarray`` first (a list of
  floats becomes float64).
* **The scoring kernels** (``entropy``, ``margin``, ``least_confidence``, ``most_uncertain``,
  ``bald``) compute float64 inputs in float64 and return float64 scores; float32, float16 and
  bfloat16 inputs are accumulated in float32 and return float32 scores.
* **Indexes** (``HNSWIndex``, ``FlatIndex``, ``knn_graph``) store float32 or float16 and refuse
  other dtypes with a TypeError naming the conversion to make (the storage type is a choice the
  caller makes once).
* **Integers, booleans, complex numbers and objects are refused everywhere** with a
  ``TypeError``: they have no meaning as probabilities, logits or embeddings.
* Non-native byte order is refused with a ``TypeError``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core

# framework detection lives in _device; these names stay importable from here
from ._device import is_cupy as is_cupy
from ._device import is_torch as is_torch
from ._device import on_cuda as on_cuda
from ._device import pointer

DTYPE_FLOAT32 = 0
DTYPE_FLOAT16 = 1
DTYPE_BFLOAT16 = 2
DTYPE_FLOAT64 = 3

_SUPPORTED = "float32, float16 or bfloat16"
_SUPPORTED_64 = "float64, float32, float16 or bfloat16"


def check_float_dtype(dtype: Any, what: str) -> None:
    """Raise the policy's TypeError unless ``dtype`` (numpy or torch) is a floating type."""
    name = str(dtype)
    kind = getattr(dtype, "kind", None)
    if kind is None:  # torch dtype
        is_float = bool(getattr(dtype, "is_floating_point", False))
    else:
        is_float = kind == "f" or getattr(dtype, "name", "") == "bfloat16"
    if not is_float:
        raise TypeError(
            f"{what} has dtype {name}; expected a floating dtype ({_SUPPORTED_64}): "
            "integers, booleans and complex numbers are refused"
        )


def as_float_array(x: Any, what: str) -> Any:
    """``x`` as an array of its own floating dtype: torch tensors and numpy/cupy arrays as they
    are, lists and other array-likes through ``numpy.asarray``. TypeError for non-float dtypes."""
    if is_torch(x) or is_cupy(x) or isinstance(x, np.ndarray):
        arr = x
    else:
        arr = np.asarray(x)
    check_float_dtype(arr.dtype, what)
    return arr


@dataclass(frozen=True)
class Matrix:
    """A 2-D input as the kernels see it."""

    framework: str  # "numpy", "torch" or "cupy"
    on_gpu: bool
    device: int  # CUDA device ordinal (0 on the CPU)
    dtype: int  # DTYPE_* code
    rows: int
    cols: int
    row_stride: int  # in elements
    col_stride: int  # in elements
    host: np.ndarray | None  # CPU inputs: a zero-copy numpy view (bfloat16 viewed as uint16)
    data_ptr: int  # GPU inputs: device address of element (0, 0)
    stream: int  # GPU inputs: the framework's current stream (0 = legacy default)
    source: Any  # the caller's object, to allocate outputs alike

    def view(self) -> Any:
        """The matrix as every ``_core`` CUDA launcher takes it: one ``_core.DeviceMatrix``
        (address of element (0, 0), shape, strides in elements, dtype code)."""
        return self.at(self.data_ptr)

    def at(self, address: int) -> Any:
        """This layout at device address ``address`` (what ``Device.ptr`` gives for the array:
        the glue tests' stand-in devices hand out host addresses)."""
        return _core.DeviceMatrix(
            address, self.rows, self.cols, self.row_stride, self.col_stride, self.dtype
        )


def as_int(value: Any, what: str) -> int:
    """``value`` as a Python int, or a TypeError naming ``what`` (bools and floats refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}") from None


def _numpy_dtype_code(dtype: np.dtype[Any], what: str, allow_float64: bool = False) -> int:
    if not dtype.isnative:
        raise TypeError(
            f"{what} has non-native byte order ({dtype.str}); "
            "use x.astype(x.dtype.newbyteorder('='))"
        )
    if dtype == np.float32:
        code = DTYPE_FLOAT32
    elif dtype == np.float16:
        code = DTYPE_FLOAT16
    elif dtype.name == "bfloat16" and dtype.itemsize == 2:  # ml_dtypes.bfloat16
        code = DTYPE_BFLOAT16
    elif dtype == np.float64 and allow_float64:
        code = DTYPE_FLOAT64
    elif allow_float64:
        raise TypeError(
            f"{what} has dtype {dtype}; expected a floating dtype ({_SUPPORTED_64}): "
            "integers, booleans and complex numbers are refused"
        )
    else:
        raise TypeError(
            f"{what} has dtype {dtype}; expected {_SUPPORTED} "
            f"(convert explicitly, e.g. x.astype(np.float32))"
        )
    return code


def _check_2d(shape: tuple[int, ...], what: str) -> None:
    if len(shape) != 2:
        raise ValueError(
            f"{what} must be 2-D [rows, classes]; got {len(shape)}-D shape {tuple(shape)}"
        )
    if shape[1] == 0:
        raise ValueError(f"{what} has an empty class axis (shape {tuple(shape)})")


def as_matrix(x: Any, what: str = "x", *, allow_float64: bool = False) -> Matrix:
    """Describe ``x`` for the kernels, or raise TypeError/ValueError naming the problem.

    ``allow_float64`` is set by the kernels that read float64 natively (scoring); the others
    (indexes, graph building) keep refusing it, as the dtype policy above says."""
    if is_torch(x):
        return _torch_matrix(x, what, allow_float64)
    if is_cupy(x):
        return _cupy_matrix(x, what, allow_float64)
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__cuda_array_interface__"):
            raise TypeError(f"{what}: GPU arrays are accepted as torch tensors or cupy arrays")
        x = np.asarray(x)
    code = _numpy_dtype_code(x.dtype, what, allow_float64)
    _check_2d(x.shape, what)
    host = x.view(np.uint16) if code == DTYPE_BFLOAT16 else x
    itemsize = x.dtype.itemsize
    return Matrix(
        framework="numpy",
        on_gpu=False,
        device=0,
        dtype=code,
        rows=int(x.shape[0]),
        cols=int(x.shape[1]),
        row_stride=x.strides[0] // itemsize,
        col_stride=x.strides[1] // itemsize,
        host=host,
        data_ptr=0,
        stream=0,
        source=x,
    )


@dataclass(frozen=True)
class Samples:
    """A 3-D ``[samples, rows, classes]`` input (BALD's Monte-Carlo samples) for the kernels:
    ``first`` describes sample 0 (a 2-D Matrix), ``host`` the whole 3-D zero-copy numpy view on
    the CPU."""

    first: Matrix
    samples: int
    sample_stride: int  # in elements
    host: np.ndarray | None

    def view(self) -> Any:
        """The samples as the ``_core`` CUDA launchers take them: one ``_core.DeviceSamples``
        (sample 0 as a DeviceMatrix, the sample count, the stride between samples)."""
        return _core.DeviceSamples(self.first.view(), self.samples, self.sample_stride)


def as_samples(x: Any, what: str = "probs") -> Samples:
    """Describe a 3-D float array ``[samples, rows, classes]`` (float64 included) for the BALD
    kernels, without a copy; TypeError/ValueError naming the problem."""
    if not (is_torch(x) or is_cupy(x) or isinstance(x, np.ndarray)):
        if hasattr(x, "__cuda_array_interface__"):
            raise TypeError(f"{what}: GPU arrays are accepted as torch tensors or cupy arrays")
        x = np.asarray(x)
    shape = tuple(int(s) for s in x.shape)
    if len(shape) != 3:
        raise ValueError(f"{what} must be 3-D [samples, rows, classes]; got shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{what} holds no samples (shape {shape})")
    first = as_matrix(x[0], what, allow_float64=True)
    host = None
    if is_torch(x):
        sample_stride = int(x.stride(0))
        if first.host is not None:
            import torch

            t = x.detach()
            if t.is_conj() or t.is_neg():
                t = t.resolve_conj().resolve_neg()
            bf16 = first.dtype == DTYPE_BFLOAT16
            host = t.view(torch.int16).numpy().view(np.uint16) if bf16 else t.numpy()
    else:
        sample_stride = int(x.strides[0]) // int(x.dtype.itemsize)
        if first.host is not None:
            host = x.view(np.uint16) if first.dtype == DTYPE_BFLOAT16 else x
    return Samples(first, shape[0], sample_stride, host)


def _torch_matrix(t: Any, what: str, allow_float64: bool = False) -> Matrix:
    import torch

    codes = {
        torch.float32: DTYPE_FLOAT32,
        torch.float16: DTYPE_FLOAT16,
        torch.bfloat16: DTYPE_BFLOAT16,
    }
    if allow_float64:
        codes[torch.float64] = DTYPE_FLOAT64
    if t.dtype not in codes:
        if allow_float64:
            raise TypeError(
                f"{what} has dtype {t.dtype}; expected a floating dtype ({_SUPPORTED_64}): "
                "integers, booleans and complex numbers are refused"
            )
        raise TypeError(
            f"{what} has dtype {t.dtype}; expected {_SUPPORTED} "
            "(convert explicitly, e.g. x.float())"
        )
    _check_2d(tuple(t.shape), what)
    t = t.detach()
    code = codes[t.dtype]
    rows, cols = (int(s) for s in t.shape)
    rs, cs = (int(s) for s in t.stride())
    if t.device.type == "cuda":
        device = t.device.index if t.device.index is not None else torch.cuda.current_device()
        stream = torch.cuda.current_stream(t.device).cuda_stream
        return Matrix(
            "torch", True, device, code, rows, cols, rs, cs, None, int(t.data_ptr()), int(stream), t
        )
    if t.device.type != "cpu":
        raise TypeError(
            f"{what} is a torch tensor on {t.device}; panning runs on CPU and CUDA devices"
        )
    if t.is_conj() or t.is_neg():
        t = t.resolve_conj().resolve_neg()
    host = t.view(torch.int16).numpy().view(np.uint16) if code == DTYPE_BFLOAT16 else t.numpy()
    return Matrix("torch", False, 0, code, rows, cols, rs, cs, host, 0, 0, t)


def _cupy_matrix(a: Any, what: str, allow_float64: bool = False) -> Matrix:
    import cupy

    code = _numpy_dtype_code(np.dtype(a.dtype), what, allow_float64)
    _check_2d(tuple(a.shape), what)
    itemsize = a.dtype.itemsize
    stream = cupy.cuda.get_current_stream().ptr
    return Matrix(
        "cupy",
        True,
        int(a.device.id),
        code,
        int(a.shape[0]),
        int(a.shape[1]),
        a.strides[0] // itemsize,
        a.strides[1] // itemsize,
        None,
        int(a.data.ptr),
        int(stream),
        a,
    )


def empty_like_framework(m: Matrix, n: int, dtype: str) -> Any:
    """An uninitialised 1-D ``dtype`` output of length ``n`` on the framework/device of ``m``."""
    if m.framework == "torch":
        import torch

        tdt = {
            "float32": torch.float32,
            "float64": torch.float64,
            "int64": torch.int64,
            "uint8": torch.uint8,
        }[dtype]
        return torch.empty(n, dtype=tdt, device=m.source.device)
    if m.framework == "cupy":
        import cupy

        with cupy.cuda.Device(m.device):
            return cupy.empty(n, dtype=dtype)
    return np.empty(n, dtype=dtype)


def host_buffer(out: Any) -> np.ndarray:
    """The numpy view of a CPU output allocated by :func:`empty_like_framework`."""
    if isinstance(out, np.ndarray):
        return out
    view: np.ndarray = out.numpy()
    return view


device_ptr = pointer  # the address of a GPU output allocated by empty_like_framework
