"""Type stubs of the compiled module anomgrad._core (csrc/module.cpp).

What the package runs: build facts, the model ids, the fused Grad-CAM CPU kernel and the
CUDA entry points.  CUDA entry points take device pointers as integers (a torch tensor's
``data_ptr()``) and a CUDA stream handle; they exist only when ``built_with_cuda``.
The C++ host twins of the Numba code are in :mod:`anomgrad._core.host`.
"""

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from . import host as host

built_with_cuda: bool

def cuda_device_available() -> bool:
    """True when a CUDA driver and at least one device are present (always False
    in a CPU-only build)."""

class Model:
    """Generator ids shared by the C++/CUDA kernels and Python."""

    fbm: ClassVar[Model]
    ctrw: ClassVar[Model]
    lw: ClassVar[Model]
    attm: ClassVar[Model]
    sbm: ClassVar[Model]
    bm: ClassVar[Model]
    __members__: ClassVar[dict[str, Model]]
    def __init__(self, value: int) -> None: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __int__(self) -> int: ...
    def __ne__(self, other: object) -> bool: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

def gradcam_cpu(activations: npt.NDArray[np.float32], weights: npt.NDArray[np.float32], T: int,
                relu: bool, linear: bool, minmax: bool, want_cam: bool, want_cells: bool,
                nbands: int) -> tuple[npt.NDArray[np.float32] | None,
                                      npt.NDArray[np.float32] | None,
                                      npt.NDArray[np.uint8] | None]:
    """Fused Grad-CAM from activations (n, K, L) and weights (n, K): (cam (n, T) or None,
    cells (n, L) or None, bands (n, nbands, L) uint8 or None)."""

# CUDA twins (present only when built_with_cuda): device pointers as integers.
def gradcam_cuda(activations: int, weights: int, n: int, K: int, L: int, T: int, relu: bool,
                 linear: bool, minmax: bool, cam: int, cells: int, bands: int, nbands: int,
                 stream: int) -> None: ...
def generate_cuda(model: Model, out: int, n: int, dim: int, T: int, out_double: bool,
                  alpha: int, alpha_per_traj: bool, seed: int, start: int, scratch: int,
                  scratch_bytes: int, stream: int) -> None:
    """Trajectories start..start+n-1 of `model` into the (n, dim, T) device buffer `out`;
    scratch: device memory of fbm_scratch_bytes(n, T) bytes for FBM (0 otherwise).  Bad
    arguments, an alpha outside the model's range among them (read back from the
    device), raise ValueError before any launch."""
def fbm_scratch_bytes(n: int, T: int) -> int:
    """Bytes of device scratch generate_cuda needs for n FBM trajectories of length T on
    the current device (sized to the blocks that are resident at once)."""
def normalize_cuda(x: int, out: int, n: int, dim: int, T: int, is_double: bool, off: int,
                   stream: int) -> None: ...
def add_noise_cuda(x: int, out: int, n: int, dim: int, T: int, is_double: bool, off: int,
                   sigma: int, seed: int, start: int, stream: int) -> None: ...
def scale_cuda(x: int, out: int, n: int, dim: int, T: int, is_double: bool, off: int,
               factor: int, stream: int) -> None: ...
def cut_cuda(x: int, out: int, n: int, dim: int, T: int, is_double: bool, off: int,
             stream: int) -> None: ...
def rng_normals_cuda(out: int, n_traj: int, count: int, seed: int, traj: int, stream: int,
                     cuda_stream: int) -> None:
    """Write normals into the float64 device buffer at address `out` on `cuda_stream`."""
def rng_words_cuda(out: int, n_traj: int, count: int, seed: int, traj: int, stream: int,
                   cuda_stream: int) -> None:
    """Write words into the uint32 device buffer at address `out` on `cuda_stream`."""
