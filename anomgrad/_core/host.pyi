"""Type stubs of anomgrad._core.host: the C++ host twins of the Numba kernels, which the
tests compare with them bit for bit (same arguments, same numbers)."""

import numpy as np
import numpy.typing as npt

from . import Model

STREAMS: dict[str, int]
"""The Philox stream ids of the kernels (the same numbers as anomgrad.config)."""

def philox4x32_10(counter: tuple[int, int, int, int], key: tuple[int, int]) -> list[int]:
    """Philox4x32-10 block function: four 32-bit words."""

def words(seed: int, traj: int, stream: int, count: int,
          n_traj: int = 1) -> npt.NDArray[np.uint32]:
    """Words 0..count-1 (count a multiple of 4) of a stream, shape (n_traj, count)."""

def normals(seed: int, traj: int, stream: int, count: int,
            n_traj: int = 1) -> npt.NDArray[np.float64]:
    """Normals 0..count-1 of a stream, shape (n_traj, count)."""

def log_uniform(w: int) -> float:
    """ln((w + 0.5) / 2**32) as the contract computes it."""

def exp_det(x: float) -> float:
    """e^x as the contract computes it (|x| <= 700)."""

def sincos_word(w: int) -> tuple[float, float]:
    """(cos, sin) of 2 pi w / 2**32 as the contract computes it."""

def generate_cpu(model: Model, out: npt.NDArray[np.floating], alpha: npt.NDArray[np.float64],
                 seed: int, start: int) -> None:
    """Fill out (n, dim, T) float32/float64 with trajectories start..start+n-1 of `model`;
    alpha has 1 or n values, each inside the model's range (else ValueError)."""

def normalize_cpu(x: npt.NDArray[np.floating], out: npt.NDArray[np.floating],
                  off: npt.NDArray[np.int64]) -> None: ...
def add_noise_cpu(x: npt.NDArray[np.floating], out: npt.NDArray[np.floating],
                  off: npt.NDArray[np.int64], sigma: npt.NDArray[np.float64], seed: int,
                  start: int) -> None: ...
def scale_cpu(x: npt.NDArray[np.floating], out: npt.NDArray[np.floating],
              off: npt.NDArray[np.int64], factor: npt.NDArray[np.float64]) -> None: ...
def cut_cpu(x: npt.NDArray[np.floating], out: npt.NDArray[np.floating],
            off: npt.NDArray[np.int64]) -> None: ...
