"""Type stubs for the compiled module anomgrad._core (csrc/module.cpp)."""

import numpy as np
import numpy.typing as npt

built_with_cuda: bool

def cuda_device_available() -> bool:
    """True when a CUDA driver and at least one device are present (always False
    in a CPU-only build)."""

def philox4x32_10(counter: tuple[int, int, int, int], key: tuple[int, int]) -> list[int]:
    """Philox4x32-10 block function: four 32-bit words."""

def words(seed: int, traj: int, stream: int, count: int, n_traj: int = 1) -> npt.NDArray[np.uint32]:
    """Words 0..count-1 (count a multiple of 4) of a stream, shape (n_traj, count)."""

def normals(seed: int, traj: int, stream: int, count: int, n_traj: int = 1) -> npt.NDArray[np.float64]:
    """Normals 0..count-1 of a stream, shape (n_traj, count)."""

def log_uniform(w: int) -> float:
    """ln((w + 0.5) / 2**32) as the contract computes it."""

def exp_det(x: float) -> float:
    """e^x as the contract computes it (|x| <= 700)."""

def sincos_word(w: int) -> tuple[float, float]:
    """(cos, sin) of 2 pi w / 2**32 as the contract computes it."""

# Present only when built_with_cuda is True.
def rng_normals_cuda(out: int, n_traj: int, count: int, seed: int, traj: int, stream: int,
                     cuda_stream: int) -> None:
    """Write normals into the float64 device buffer at address `out` on `cuda_stream`."""

def rng_words_cuda(out: int, n_traj: int, count: int, seed: int, traj: int, stream: int,
                   cuda_stream: int) -> None:
    """Write words into the uint32 device buffer at address `out` on `cuda_stream`."""

def generate_cpu(model: int, out: npt.NDArray, alpha: npt.NDArray[np.float64], seed: int,
                 start: int) -> None:
    """C++ host build of the shared model code: fill out (n, dim, T) float32/float64
    with trajectories start..start+n-1; model ids as anomgrad.cuda.MODEL_IDS; alpha has 1
    or n values."""

def normalize_cpu(x: npt.NDArray, out: npt.NDArray, off: npt.NDArray[np.int64]) -> None: ...
def add_noise_cpu(x: npt.NDArray, out: npt.NDArray, off: npt.NDArray[np.int64],
                  sigma: npt.NDArray[np.float64], seed: int, start: int) -> None: ...
def scale_cpu(x: npt.NDArray, out: npt.NDArray, off: npt.NDArray[np.int64],
              factor: npt.NDArray[np.float64]) -> None: ...
def cut_cpu(x: npt.NDArray, out: npt.NDArray, off: npt.NDArray[np.int64]) -> None: ...

# CUDA twins (present only when built_with_cuda): device pointers as integers.
def generate_cuda(model: int, out: int, n: int, dim: int, T: int, out_double: bool, alpha: int,
                  alpha_per_traj: bool, seed: int, start: int, stream: int) -> None: ...
def normalize_cuda(x: int, out: int, n: int, dim: int, T: int, dbl: bool, off: int,
                   stream: int) -> None: ...
def add_noise_cuda(x: int, out: int, n: int, dim: int, T: int, dbl: bool, off: int, sigma: int,
                   seed: int, start: int, stream: int) -> None: ...
def scale_cuda(x: int, out: int, n: int, dim: int, T: int, dbl: bool, off: int, factor: int,
               stream: int) -> None: ...
def cut_cuda(x: int, out: int, n: int, dim: int, T: int, dbl: bool, off: int, stream: int) -> None: ...
