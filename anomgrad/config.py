"""Package-wide constants: models, valid parameter ranges, RNG stream ids, tuning.

One place for Python.  The C++/CUDA kernels declare the same stream ids in
csrc/include/anomgrad/models.h and processing.h; ``anomgrad._core.host.STREAMS`` exposes
them and tests/trajectories/test_rng.py checks that both agree.
"""

from __future__ import annotations

MAX_SEED = 2**64 - 1
DIMS = (1, 2, 3)

# Valid alpha per model as (low, low_inclusive, high, high_inclusive); docs/method.md §1.
# ATTM's lower bound: andi-datasets draws sigma ~ U(0.03, 3.3) until
# sigma <= alpha / (1 - alpha), which never happens for alpha <= 0.03 / 1.03.
ATTM_SIGMA_LOW = 0.03
ATTM_SIGMA_HIGH = 3.3
ALPHA_RANGES = {
    "fbm": (0.0, False, 2.0, False),
    "ctrw": (0.0, False, 1.0, True),
    "lw": (1.0, True, 2.0, True),  # alpha = 1 as andi-datasets (sigma = 2: MSD ~ t ln t)
    "attm": (ATTM_SIGMA_LOW / (1.0 + ATTM_SIGMA_LOW), False, 1.0, True),
    "sbm": (0.0, False, 2.0, True),
    "bm": (1.0, True, 1.0, True),
}
MODELS = tuple(ALPHA_RANGES)

# The AnDi 2 phenomenological models (andi-datasets 2.1.13 ``models_phenom``; docs/phenom.md):
# positions with a label per frame.  Bounds and labels as andi-datasets sets them.
PHENOM_MODELS = ("single_state", "multi_state", "immobile_traps", "confinement",
                 "dimerization")
PHENOM_BOUND_ALPHA = (0.0, 1.999)  # truncated-normal draws of a state's alpha, inclusive
PHENOM_BOUND_D = (1e-12, 1e6)  # ... and of its diffusion coefficient
PHENOM_ALPHA_DIRECTED = 1.9  # alpha >= this is labelled directed motion
PHENOM_KINDS = ("immobile", "confined", "free", "directed")  # andi's 'i', 'c', 'f', 'd'
PHENOM_LABELS = ("alpha", "D", "kind", "state")  # the label channels, per frame
PHENOM_MAX_DRAWS = 100  # redraws of a state's alpha or D under a constraint (as andi)
PHENOM_MAX_TRUNC = 10_000  # normal draws before a truncated normal gives up

# Philox stream ids (docs/rng.md).  Counter = (block, stream, traj_lo, traj_hi).
STREAM_PARAMS = 0  # per-trajectory parameters (LW speed and sigma, ATTM sigma)
STREAM_EVENTS = 1  # CTRW waiting times, LW flight durations, ATTM segment draws
STREAM_DIRECTIONS = 2  # LW flight direction (1D sign, 2D angle)
STREAM_AXIS = 16  # 16 + a: normals of axis a (increments, jumps, spectra)
STREAM_LENGTH = 19  # 3D jump / step lengths (normals)
STREAM_NOISE = 32  # 32 + a: localization noise of axis a
STREAM_DIFFUSION = 48  # random diffusion-coefficient factor
STREAM_CUT = 49  # random cut lengths
STREAM_ALPHA = 64  # per-trajectory alpha: `anomgrad generate --alpha-range`, ResAnDi datasets
STREAM_SHUFFLE = 65  # row-order key of ResAnDi dataset files
STREAM_STATE_PARAMS = 128  # 128 + 2 s, 129 + 2 s: normals of state s's alpha and D (phenom)
STREAM_FIELD = 96  # a state model's field (traps), drawn from the seed alone (counter 0)
STREAM_DIMERS = 97  # dimerization: a field's breaking and binding coins (counter: the field)
STREAM_DIMER_ALPHA = 98  # dimerization: its new dimers' alphas under epsilon_a (the field)

# Work sizes.
FBM_CHUNK_BYTES = 64 * 2**20  # complex scratch per FFT batch
CLI_CHUNK_BYTES = 128 * 2**20  # output rows per HDF5 write
# normalize refuses rows whose increments have a standard deviation below this: their
# squares underflow float64 and the result would not be normalized (found by fuzzing)
NORMALIZE_TINY_SD = 1e-140
