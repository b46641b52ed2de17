"""The AnDi 2 phenomenological models (andi-datasets 2.1.13 ``models_phenom``): tracks
whose diffusive state changes along the track, with a label for every frame.

``ag.generate("multi_state", n, T, M=..., Ds=..., alphas=...)`` returns
``(x, labels)``: positions ``(n, dim, T)`` in anomgrad's layout and labels
``(n, 4, T)`` (:data:`~anomgrad.config.PHENOM_LABELS`: alpha, D, kind, state at each
frame).  :func:`to_andi` and :func:`from_andi` convert to and from andi-datasets'
``(T, N, dim)`` and ``(T, N, 3)`` arrays.  The parameters keep andi-datasets' names and
meanings (docs/phenom.md): ``Ds`` and ``alphas`` are ``[mean, variance]`` of a normal
truncated to the bounds (a number: variance 0), per state for ``multi_state``; ``M`` the
per-frame transition matrix; ``L`` the side of a reflecting box (None: free space, the
track starts at 0).

All five models: ``single_state`` and ``multi_state`` (:mod:`.kernel`; single_state's
correlated steps through anomgrad's FBM), ``immobile_traps`` (:mod:`.traps`),
``confinement`` (:mod:`.confinement`), ``dimerization`` (:mod:`.dimers`: fields of N
interacting particles, the unit of the contract).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _validate as V
from ..config import (PHENOM_BOUND_ALPHA, PHENOM_BOUND_D, PHENOM_LABELS, PHENOM_MAX_DRAWS,
                      PHENOM_MODELS, STREAM_FIELD)
from ..models import fbm
from ..models._common import seed_words
from . import confinement as C_
from . import dimers as D_
from . import kernel as K
from . import traps as T_

# andi-datasets' defaults, per model
DEFAULTS = {
    "single_state": {"Ds": [1.0, 0.0], "alphas": [1.0, 0.0], "L": None},
    "multi_state": {"M": [[0.9, 0.1], [0.1, 0.9]], "Ds": [[1.0, 0.0], [0.1, 0.0]],
                    "alphas": [[1.0, 0.0], [1.0, 0.0]], "gamma_d": None, "epsilon_a": None,
                    "L": None, "init_state": None},
    "immobile_traps": {"L": 100.0, "r": 1.0, "Pu": 0.1, "Pb": 0.01, "Ds": [1.0, 0.0],
                       "alphas": [1.0, 0.0], "Nt": 10, "traps_pos": None},
    "confinement": {"L": 100.0, "Ds": [[1.0, 0.0], [0.1, 0.0]], "alphas": [[1.0, 0.0], [1.0, 0.0]],
                    "gamma_d": [1.0], "epsilon_a": [0.0], "r": 1.0, "comp_center": None,
                    "Nc": 10, "trans": 0.1},
    "dimerization": {"N": 10, "L": 100.0, "r": 1.0, "Pu": 0.1, "Pb": 0.01,
                     "Ds": [[1.0, 0.0], [0.1, 0.0]], "alphas": [[1.0, 0.0], [1.0, 0.0]],
                     "epsilon_a": 0.0, "stokes": False},
}
TWO_D = ("immobile_traps", "confinement", "dimerization")  # andi-datasets makes these in 2-D only
ROW_SUM_TOL = math.sqrt(np.finfo(np.float64).eps)  # numpy's choice() tolerance on p


def _number(name, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def _mean_var(name, v, what, bound) -> tuple[float, float]:
    """(mean, sd) of a number or a [mean, variance] pair, the mean valid for ``what``."""
    if isinstance(v, (list, tuple, np.ndarray)):
        if len(v) != 2:
            raise ValueError(f"{name} must be a number or [mean, variance], got {v!r}")
        mean, var = _number(f"{name} mean", v[0]), _number(f"{name} variance", v[1])
    else:
        mean, var = _number(name, v), 0.0
    lo, hi = bound
    if var < 0:
        raise ValueError(f"{name}: the variance must be >= 0, got {var:g}")
    if what == "alpha":
        if not 0.0 < mean < 2.0:
            raise ValueError(f"{name}: alpha must lie in (0, 2), got {mean:g}")
        if var == 0 and mean > hi:
            raise ValueError(f"{name}: a fixed alpha must be <= {hi} (andi-datasets' bound; "
                             f"2 is ballistic), got {mean:g}")
    else:
        if not mean > 0.0:
            raise ValueError(f"{name}: the diffusion coefficient must be > 0, got {mean:g}")
        if var == 0 and not lo <= mean <= hi:
            raise ValueError(f"{name}: a fixed D must lie in [{lo:g}, {hi:g}], got {mean:g}")
    return mean, math.sqrt(var)


def _per_state(name, v, S, what, bound):
    if S == 1:
        v = [v]
    elif not isinstance(v, (list, tuple, np.ndarray)) or len(v) != S:
        raise ValueError(f"{name} must give one entry per state ({S}: a number or "
                         f"[mean, variance] each), got {v!r}")
    pairs = [_mean_var(f"{name}[{s}]" if S > 1 else name, e, what, bound)
             for s, e in enumerate(v)]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def check_matrix(M) -> np.ndarray:
    """The transition matrix: square, entries in [0, 1], every row summing to 1."""
    try:
        m = np.asarray(M, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"M must be a square matrix of numbers, got {M!r}") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ValueError(f"M must be a square matrix (states x states), got shape {m.shape}")
    if not np.isfinite(m).all() or (m < 0).any() or (m > 1).any():
        raise ValueError("M: every transition probability must lie in [0, 1]")
    rows = m.sum(axis=1)
    bad = np.abs(rows - 1.0) > ROW_SUM_TOL
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"M: row {r} sums to {rows[r]:.10g}; every row of the transition "
                         f"matrix must sum to 1")
    return m


def _constraint(name, v, S, neutral):
    if v is None:
        return np.full(max(S - 1, 1), neutral)
    a = np.atleast_1d(np.asarray(v, np.float64))
    if a.ndim != 1 or len(a) != S - 1 or not np.isfinite(a).all():
        raise ValueError(f"{name} must give {S - 1} finite numbers (one per pair of "
                         f"consecutive states), got {v!r}")
    if name == "gamma_d" and (a <= 0).any():
        raise ValueError(f"gamma_d must be > 0, got {v!r}")
    return a if S > 1 else np.full(1, neutral)


def _probability(name, v) -> float:
    v = _number(name, v)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} is a probability per frame: it must lie in [0, 1], got {v:g}")
    return v


def _traps(p: dict, L: float, given: dict) -> dict:
    """immobile_traps' own parameters: the trap radius, the binding and unbinding
    probabilities, the traps (given, or their number, drawn from the seed)."""
    r = _number("r", p["r"])
    if r <= 0:
        raise ValueError(f"r (the traps' radius) must be > 0, got {r:g}")
    out = {"r": r, "Pu": _probability("Pu", p["Pu"]), "Pb": _probability("Pb", p["Pb"])}
    if p["traps_pos"] is not None:
        t = np.asarray(p["traps_pos"], np.float64)
        if t.ndim != 2 or t.shape[1] != 2 or not np.isfinite(t).all():
            raise ValueError(f"traps_pos must be finite positions (Nt, 2), got shape {t.shape}")
        if "Nt" in given and given["Nt"] != len(t):
            raise ValueError(f"Nt = {p['Nt']} but traps_pos holds {len(t)} traps")
        out["traps"] = np.ascontiguousarray(t)
    else:
        out["Nt"] = V.check_int("Nt", p["Nt"], 0, 10**7)
    return out


def _compartments(p: dict, L: float, given: dict) -> dict:
    """confinement's own parameters: the compartments' radius, the transmittance of their
    boundary, the compartments (given, or their number: a field drawn per trajectory)."""
    r = _number("r", p["r"])
    if r <= 0:
        raise ValueError(f"r (the compartments' radius) must be > 0, got {r:g}")
    out = {"r": r, "trans": _probability("trans", p["trans"])}
    if p["comp_center"] is not None:
        c = np.asarray(p["comp_center"], np.float64)
        if c.ndim != 2 or c.shape[1] != 2 or len(c) < 1 or not np.isfinite(c).all():
            raise ValueError(f"comp_center must be finite centres (Nc, 2), got shape {c.shape}")
        out.update(centers=np.ascontiguousarray(c), own=False)
    else:
        Nc = V.check_int("Nc", p["Nc"], 1, 10**6)
        if not L > 2 * r:
            raise ValueError(f"compartments of radius r = {r:g} do not fit in a box of side "
                             f"L = {L:g}: L must be > 2 r")
        out.update(centers=np.zeros((Nc, 2)), own=True)
    return out


def _dimers(p: dict, L: float, given: dict) -> dict:
    """dimerization's own parameters: particles per field, their radius, the binding and
    breaking probabilities, the Stokes rule, the dimer alpha's distance (epsilon_a)."""
    N = V.check_int("N", p["N"], 1, 10**5)
    r = _number("r", p["r"])
    if r <= 0:
        raise ValueError(f"r (the particles' radius) must be > 0, got {r:g}")
    if N * math.pi * r * r > L * L:
        raise ValueError(f"N = {N} particles of radius r = {r:g} cover more than the box of "
                         f"side L = {L:g} can hold (N pi r^2 > L^2)")
    if not isinstance(p["stokes"], (bool, np.bool_)):
        raise TypeError(f"stokes must be True or False, got {p['stokes']!r}")
    return {"N": N, "r": r, "Pu": _probability("Pu", p["Pu"]),
            "Pb": _probability("Pb", p["Pb"]), "stokes": bool(p["stokes"]),
            "eps_dimer": _number("epsilon_a", p["epsilon_a"])}


def parameters(model: str, params: dict) -> dict:
    """The checked kernel arguments of ``model`` from andi-style ``params``."""
    unknown = sorted(set(params) - set(DEFAULTS[model]))
    if unknown:
        raise TypeError(f"{model} takes no parameter {unknown[0]!r}; its parameters: "
                        f"{', '.join(DEFAULTS[model])}")
    p = {**DEFAULTS[model], **params}
    M = check_matrix(p["M"]) if model == "multi_state" else np.eye(
        2 if model in ("confinement", "dimerization") else 1)
    S = M.shape[0]
    a_mean, a_sd = _per_state("alphas", p["alphas"], S, "alpha", PHENOM_BOUND_ALPHA)
    d_mean, d_sd = _per_state("Ds", p["Ds"], S, "D", PHENOM_BOUND_D)
    L = p["L"]
    if L is not None or model in TWO_D:
        L = _number("L", L)
        if L <= 0:
            raise ValueError(f"L (the side of the box) must be > 0"
                             f"{'' if model in TWO_D else ', or None for free space'}, got "
                             f"{L:g}")
    init = p.get("init_state")
    if init is not None:
        init = V.check_int("init_state", init, 0, S - 1)
    cdf = np.cumsum(M, axis=1)
    cdf /= cdf[:, -1:]
    extra = {"immobile_traps": _traps, "confinement": _compartments,
             "dimerization": _dimers}.get(model, lambda p, L, given: {})(p, L, params)
    return dict(extra, cdf=cdf, a_mean=a_mean, a_sd=a_sd, d_mean=d_mean, d_sd=d_sd,
                eps=_constraint("epsilon_a", None if model == "dimerization" else
                                p.get("epsilon_a"), S, 0.0),
                gam=_constraint("gamma_d", p.get("gamma_d"), S, 1.0),
                box=0.0 if L is None else L, init_state=-1 if init is None else init)


_ERRORS = {
    K.ERR_TRUNC_ALPHA: "alphas: no alpha inside andi-datasets' bounds [{0}, {1}] in {2} draws "
                       "(the mean is too far outside)",
    K.ERR_TRUNC_D: "Ds: no D inside [{3:g}, {4:g}] in {2} draws (the mean is too far outside)",
    K.ERR_EPSILON: "epsilon_a: no alpha {5} draws apart from the previous state's (the states' "
                   "alpha distributions are too close)",
    K.ERR_GAMMA: "gamma_d: no D {5} draws apart from the previous state's by the factor "
                 "(the states' D distributions are too close)",
}


SCRATCH_BYTES = 4 * 2**20  # float64 fBm per batch of single_state (reused: fresh pages cost)


def _single_fbm(x, lab, kw, seed, start, err) -> None:
    """single_state with correlated steps: one fGn over all T - 1 steps, so anomgrad's
    exact circulant-embedding FBM (``models.fbm``, O(T log T)) of each trajectory's
    alpha, then :func:`.kernel.single_finish` (D, start, box, labels).  (A constant
    alpha = 1 takes the kernel's white-noise path.)"""
    n, dim, T = x.shape
    k0, k1 = seed_words(seed)
    alpha, D = np.empty((n, 1)), np.empty((n, 1))
    K.params_kernel(kw["a_mean"], kw["a_sd"], kw["d_mean"], kw["d_sd"], kw["eps"],
                    kw["gam"], k0, k1, np.uint64(start), alpha, D, err)
    if err.any():
        return
    batch = max(1, min(n, SCRATCH_BYTES // (8 * dim * T)))
    f = np.empty((batch, dim, T))
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        fbm.generate_cpu(f[:hi - lo], alpha[lo:hi, 0], seed, start + lo)
        K.single_finish(x[lo:hi], lab[lo:hi], f[:hi - lo], alpha[lo:hi, 0], D[lo:hi, 0],
                        kw["box"], k0, k1, np.uint64(start + lo))


def generate(model: str, n: int, T: int, dim: int, seed: int, start: int, dtype, out,
             params: dict):
    """``(x, labels)`` of ``n`` trajectories of ``model`` (checked by ``ag.generate``)."""
    if model not in PHENOM_MODELS:
        raise ValueError(f"unknown state model {model!r}; valid: {', '.join(PHENOM_MODELS)}")
    if model in TWO_D and dim != 2:
        raise ValueError(f"{model} is two-dimensional (as andi-datasets makes it); got dim={dim}")
    kw = parameters(model, params)
    shapes = ((n, dim, T), (n, len(PHENOM_LABELS), T))
    if out is None:
        out = tuple(np.empty(s, dtype) for s in shapes)
    else:
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"out must be a tuple (positions, labels) for {model}")
        for o, s, what in zip(out, shapes, ("positions", "labels")):
            if not isinstance(o, np.ndarray) or o.shape != s or o.dtype != dtype or not (
                    o.flags.c_contiguous and o.flags.writeable):
                raise ValueError(f"out's {what} must be a writeable C-contiguous "
                                 f"{np.dtype(dtype).name} numpy array of shape {s}")
    x, lab = out
    err = np.zeros(n, np.int64)
    k0, k1 = seed_words(seed)
    if model == "immobile_traps":
        traps = kw.get("traps")
        if traps is None:
            traps = T_.field((k0, k1), kw["Nt"], kw["box"], STREAM_FIELD)
        T_.traps_kernel(x, lab, traps, kw["a_mean"], kw["a_sd"], kw["d_mean"], kw["d_sd"],
                        kw["box"], kw["r"], kw["Pu"], kw["Pb"], k0, k1, np.uint64(start), err)
    elif model == "dimerization":
        N = kw["N"]
        if n % N or start % N:
            raise ValueError(f"dimerization makes fields of N = {N} interacting particles "
                             f"together: n and start must be multiples of N, got n={n}, "
                             f"start={start}")
        D_.dimers_kernel(x, lab, N, kw["a_mean"], kw["a_sd"], kw["d_mean"], kw["d_sd"],
                         kw["box"], kw["r"], kw["Pu"], kw["Pb"], kw["stokes"],
                         kw["eps_dimer"], k0, k1, start // N, err)
    elif model == "confinement":
        placed = np.zeros(n, np.int64)
        C_.confinement_kernel(x, lab, kw["centers"], kw["own"], kw["a_mean"], kw["a_sd"],
                              kw["d_mean"], kw["d_sd"], kw["eps"], kw["gam"], kw["box"],
                              kw["r"], kw["trans"], k0, k1, np.uint64(start), err, placed)
        few = kw["own"] and not err.any() and (placed < len(kw["centers"])).any()
        if few:
            warnings.warn(f"confinement: some tracks' fields hold only {placed.min()} of the "
                          f"Nc = {len(kw['centers'])} compartments requested (no room after "
                          f"{100 * len(kw['centers'])} tries, as andi-datasets); enlarge L "
                          f"or shrink r", stacklevel=3)
    elif model == "single_state" and not (kw["a_sd"][0] == 0 and kw["a_mean"][0] == 1.0):
        _single_fbm(x, lab, kw, seed, start, err)
    else:
        K.states_kernel(x, lab, kw["cdf"], kw["a_mean"], kw["a_sd"], kw["d_mean"],
                        kw["d_sd"], kw["eps"], kw["gam"], kw["box"], kw["init_state"], k0,
                        k1, np.uint64(start), err)
    if err.any():
        i = int(np.flatnonzero(err)[0])
        msg = _ERRORS[int(err[i])].format(*PHENOM_BOUND_ALPHA, K.PHENOM_MAX_TRUNC,
                                          *PHENOM_BOUND_D, PHENOM_MAX_DRAWS)
        raise ValueError(f"{model}, trajectory {start + i}: {msg}")
    return x, lab


def to_andi(x, labels):
    """anomgrad's ``(n, dim, T)`` positions and ``(n, 4, T)`` labels as andi-datasets'
    ``(T, n, dim)`` trajectories and ``(T, n, 3)`` labels (alpha, D, kind).  The state
    numbers (andi's ``return_state_num=True`` column) are left out: they are
    ``labels[:, 3]``."""
    x, labels = np.asarray(x), np.asarray(labels)
    return np.ascontiguousarray(x.transpose(2, 0, 1)), np.ascontiguousarray(
        labels[:, :3].transpose(2, 0, 1))


def from_andi(trajs, labels):
    """andi-datasets' ``(T, N, dim)`` trajectories and ``(T, N, 3)`` or ``(T, N, 4)``
    labels as anomgrad's ``(N, dim, T)`` and ``(N, 4, T)`` (a missing state column is
    -1, unknown)."""
    trajs, labels = np.asarray(trajs), np.asarray(labels)
    if trajs.ndim != 3 or labels.ndim != 3 or labels.shape[:2] != trajs.shape[:2] or \
            labels.shape[2] not in (3, 4):
        raise ValueError(f"expected trajectories (T, N, dim) and labels (T, N, 3 or 4), got "
                         f"{trajs.shape} and {labels.shape}")
    out = np.full((labels.shape[1], 4, labels.shape[0]), -1.0, labels.dtype)
    out[:, :labels.shape[2]] = labels.transpose(1, 2, 0)
    return np.ascontiguousarray(trajs.transpose(1, 2, 0)), out


__all__ = ["DEFAULTS", "check_matrix", "from_andi", "generate", "parameters", "to_andi"]
