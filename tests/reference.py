"""Slow, obviously-correct reference generators for the six models.

Written from docs docs/method.md section 1 (the andi-datasets 2.1.13 ``models_theory``
conventions), independently of anomgrad's code: plain numpy, plain loops, one
``numpy.random.Generator`` per call.  Each ``ref_<model>(n, T, alpha, dim, rng)``
returns float64 positions of shape (n, dim, T) with x[..., 0] == 0; ``alpha`` is a
number or an array of n (one exponent per trajectory).

These are for statistical comparison with ``anomgrad.generate`` (same distribution,
different random numbers), so clarity beats speed.  FBM uses a Cholesky factor of
the fGn covariance matrix (exact, and a different method from anomgrad's circulant
embedding); keep T below a few hundred.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ref_fbm", "ref_ctrw", "ref_lw", "ref_attm", "ref_sbm", "ref_bm", "REFERENCE",
           "reference"]


def _alphas(alpha, n):
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim == 0:
        return np.full(n, float(a))
    assert a.shape == (n,), "alpha must be a number or an array of n"
    return a.copy()


def _uniform_direction(rng):
    """A point uniform on the unit sphere (three normals, normalised)."""
    g = rng.standard_normal(3)
    return g / np.linalg.norm(g)


def _positions_from_steps(steps):
    """steps (dim, T-1) -> positions (dim, T) with x_0 = 0, x_k = steps_0 + ... + steps_(k-1)."""
    dim = steps.shape[0]
    return np.concatenate([np.zeros((dim, 1)), np.cumsum(steps, axis=1)], axis=1)


# --------------------------------------------------------------------------- FBM
def fgn_autocovariance(H, kmax):
    """Unit-variance fGn: gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2, k = 0..kmax."""
    k = np.arange(kmax + 1, dtype=np.float64)
    return 0.5 * (np.abs(k + 1) ** (2 * H) - 2 * np.abs(k) ** (2 * H) + np.abs(k - 1) ** (2 * H))


def _fgn_cholesky(alpha, T):
    m = T - 1
    g = fgn_autocovariance(alpha / 2.0, m)
    idx = np.arange(m)
    C = g[np.abs(idx[:, None] - idx[None, :])]
    return np.linalg.cholesky(C)


def ref_fbm(n, T, alpha, dim, rng):
    """FBM, H = alpha/2: increments = L z with L L^T the (T-1)x(T-1) fGn covariance."""
    al = _alphas(alpha, n)
    out = np.zeros((n, dim, T))
    cache = {}
    for i in range(n):
        a = float(al[i])
        if a not in cache:
            cache[a] = _fgn_cholesky(a, T)
        L = cache[a]
        for d in range(dim):
            out[i, d, 1:] = np.cumsum(L @ rng.standard_normal(T - 1))
    return out


# --------------------------------------------------------------------------- CTRW
def ref_ctrw(n, T, alpha, dim, rng):
    """CTRW: tau = (1-U)^(-1/alpha), t_j = tau_1 + ... + tau_j; every event jumps N(0,1)
    per axis (3D: N(0,1) length along a uniform direction); x(t) = sum of the jumps of
    the events with floor(t_j) <= t."""
    al = _alphas(alpha, n)
    out = np.zeros((n, dim, T))
    for i in range(n):
        jumps_at = np.zeros((dim, T))  # jumps_at[:, k]: jumps of the events on grid time k
        t = 0.0
        while True:
            t += (1.0 - rng.random()) ** (-1.0 / al[i])
            if t >= T:  # floor(t) >= T: outside the trajectory
                break
            if dim < 3:
                jump = rng.standard_normal(dim)
            else:
                jump = rng.standard_normal() * _uniform_direction(rng)
            jumps_at[:, int(math.floor(t))] += jump
        out[i] = np.cumsum(jumps_at, axis=1)  # x(t) = sum over floor(t_j) <= t
    return out


# --------------------------------------------------------------------------- LW
def ref_lw(n, T, alpha, dim, rng):
    """Levy walk: sigma = 3 - alpha (alpha == 2: sigma ~ U(0,1)); v = 10 U per trajectory;
    flight durations tau = (1-U)^(-1/sigma), tau > T -> T + 1; a flight is floor(tau)
    unit steps of v along its direction (1D sign, 2D angle U(0, 2pi), 3D uniform);
    x_k = sum of unit steps 1..k (0-based: the very first unit step is dropped)."""
    al = _alphas(alpha, n)
    out = np.zeros((n, dim, T))
    for i in range(n):
        v = 10.0 * rng.random()
        sigma = rng.random() if al[i] == 2.0 else 3.0 - al[i]
        steps = []  # unit steps, each a vector of length dim
        while len(steps) < T:
            with np.errstate(over="ignore"):  # sigma -> 0 (alpha = 2): tau = inf > T
                tau = np.float64(1.0 - rng.random()) ** (-1.0 / sigma)
            if tau > T:
                tau = T + 1
            if dim == 1:
                direction = np.array([1.0 if rng.random() < 0.5 else -1.0])
            elif dim == 2:
                theta = rng.uniform(0.0, 2.0 * math.pi)
                direction = np.array([math.cos(theta), math.sin(theta)])
            else:
                direction = _uniform_direction(rng)
            for _ in range(int(math.floor(tau))):
                steps.append(v * direction)
        steps = np.array(steps[:T]).T  # (dim, T): unit steps 0..T-1
        out[i] = np.concatenate([np.zeros((dim, 1)), np.cumsum(steps[:, 1:], axis=1)], axis=1)
    return out


# --------------------------------------------------------------------------- ATTM
def _attm_sigma_gamma(alpha, rng):
    """andi's rejection loop, literally: sigma = 3 U(0.01, 1.1), gamma = sigma / alpha,
    redrawn until sigma <= gamma <= sigma + 1."""
    sigma = 3.0 * rng.uniform(0.01, 1.1)
    gamma = sigma / alpha
    while sigma > gamma or gamma > sigma + 1.0:
        sigma = 3.0 * rng.uniform(0.01, 1.1)
        gamma = sigma / alpha
    return sigma, gamma


def ref_attm(n, T, alpha, dim, rng):
    """ATTM regime 1: segments with D = (1 - U(0.1, 0.99))^(1/sigma) lasting
    t = D^(-gamma) (t > T -> T), floor(t) Brownian steps sqrt(2D) N(0,1) on every axis
    (3D: N(0,1) length along a uniform direction, times sqrt(2D)); until T positions."""
    al = _alphas(alpha, n)
    out = np.zeros((n, dim, T))
    for i in range(n):
        sigma, gamma = _attm_sigma_gamma(al[i], rng)
        steps = np.zeros((dim, 0))
        while steps.shape[1] < T - 1:
            D = (1.0 - rng.uniform(0.1, 0.99)) ** (1.0 / sigma)
            t = D ** (-gamma)
            if t > T:
                t = T
            k = int(math.floor(t))
            if dim < 3:
                seg = math.sqrt(2.0 * D) * rng.standard_normal((dim, k))
            else:  # each step: N(0,1) length along its own uniform direction
                g = rng.standard_normal((3, k))
                seg = math.sqrt(2.0 * D) * rng.standard_normal(k) * g / np.linalg.norm(g, axis=0)
            steps = np.concatenate([steps, seg], axis=1)
        out[i] = _positions_from_steps(steps[:, : T - 1])
    return out


# --------------------------------------------------------------------------- SBM
def ref_sbm(n, T, alpha, dim, rng):
    """SBM: x_k = sum_{t=1..k} sqrt((t+1)^alpha - t^alpha) N_t (andi drops t = 0)."""
    al = _alphas(alpha, n)
    out = np.zeros((n, dim, T))
    t = np.arange(1, T, dtype=np.float64)
    for i in range(n):
        scale = np.sqrt((t + 1.0) ** al[i] - t ** al[i])
        for d in range(dim):
            out[i, d, 1:] = np.cumsum(scale * rng.standard_normal(T - 1))
    return out


# --------------------------------------------------------------------------- BM
def ref_bm(n, T, alpha, dim, rng):
    """BM: N(0,1) increments on every axis (alpha must be None or 1)."""
    assert alpha is None or np.all(np.asarray(alpha) == 1.0)
    out = np.zeros((n, dim, T))
    out[:, :, 1:] = np.cumsum(rng.standard_normal((n, dim, T - 1)), axis=2)
    return out


REFERENCE = {"fbm": ref_fbm, "ctrw": ref_ctrw, "lw": ref_lw, "attm": ref_attm,
             "sbm": ref_sbm, "bm": ref_bm}


def reference(model, n, T, alpha, dim, seed):
    """ref_<model> with numpy.random.default_rng(seed)."""
    return REFERENCE[model](n, T, alpha, dim, np.random.default_rng(seed))


def ref_increments(z, T):
    """Slow reference of ``anomgrad.resandi.preprocess.increments``: for each row and axis
    of the left-padded ``z`` (n, dim, L), the steps inside the track (positions L - T .. L - 1)
    divided by their root mean square over the T - 1 steps; 0 elsewhere."""
    n, dim, L = z.shape
    out = np.zeros((n, dim, L))
    for i in range(n):
        first = L - int(T[i])
        for a in range(dim):
            steps = [float(z[i, a, t]) - float(z[i, a, t - 1]) for t in range(first + 1, L)]
            rms = math.sqrt(sum(s * s for s in steps) / max(len(steps), 1))
            for k, s in enumerate(steps):
                out[i, a, first + 1 + k] = s / rms if rms > 0 else s
    return out


# --------------------------------------------------------------- AnDi 2 state models
def _truncated(normal, mean, sd, lo, hi):
    """``mean + sd N`` for the first of the normals ``normal()`` gives in [lo, hi] (none
    drawn when sd = 0): andi-datasets' truncated normal."""
    if sd == 0:
        return mean
    while True:
        v = mean + sd * normal()
        if lo <= v <= hi:
            return v


class _Stream:
    """Draws of one (counter, stream) in order of use, through ``anomgrad.rng``."""

    def __init__(self, seed, traj, stream, kind):
        self.args, self.kind, self.values, self.next = (seed, traj, stream), kind, [], 0

    def __call__(self):
        from anomgrad import rng

        if self.next == len(self.values):
            self.values = getattr(rng, self.kind)(*self.args, max(64, 2 * self.next))[0]
        self.next += 1
        return float(self.values[self.next - 1])


def ref_states(seed, traj, T, dim, cdf, a_mean, a_sd, d_mean, d_sd, eps, gam, box, init):
    """One trajectory of anomgrad's state models, written from docs/phenom.md with the
    same random numbers (the streams docs/rng.md and anomgrad/phenom/kernel.py name,
    read through ``anomgrad.rng``): states by loops, each fGn run by a Cholesky factor
    of its covariance matrix (the kernel uses Durbin-Levinson), a box by reflections.
    single_state with correlated steps is ``sqrt(2 D)`` times the steps of anomgrad's
    FBM of the same (seed, trajectory), as docs/phenom.md says.
    Returns float64 positions (dim, T) and labels (4, T)."""
    from anomgrad import rng  # the documented draws, not the kernel's code

    S = len(a_mean)
    streams = {}

    def truncated(stream, mean, sd, lo, hi):
        if stream not in streams:
            streams[stream] = _Stream(seed, traj, stream, "normals")
        return _truncated(streams[stream], mean, sd, lo, hi)

    alpha, D = np.zeros(S), np.zeros(S)
    for s in range(S):
        alpha[s] = truncated(128 + 2 * s, a_mean[s], a_sd[s], 0.0, 1.999)
        D[s] = truncated(129 + 2 * s, d_mean[s], d_sd[s], 1e-12, 1e6)
        while s > 0 and eps[s - 1] != 0 and alpha[s - 1] - alpha[s] < eps[s - 1]:
            alpha[s] = truncated(128 + 2 * s, a_mean[s], a_sd[s], 0.0, 1.999)
        while s > 0 and gam[s - 1] != 1 and (D[s] > D[s - 1] * gam[s - 1] if gam[s - 1] < 1
                                             else D[s] < D[s - 1] * gam[s - 1]):
            D[s] = truncated(129 + 2 * s, d_mean[s], d_sd[s], 1e-12, 1e6)
    u0 = rng.uniforms(seed, traj, 0, 4)[0]
    state = np.zeros(T, np.int64)
    state[0] = init if init >= 0 else min(int(S * u0[0]), S - 1)
    if S > 1:
        u = rng.uniforms(seed, traj, 1, T - 1)[0]
        for t in range(1, T):
            state[t] = min(int(np.searchsorted(cdf[state[t - 1]], u[t - 1], side="right")),
                           S - 1)
    z = np.stack([rng.normals(seed, traj, 16 + a, T - 1)[0] for a in range(dim)])
    steps = np.zeros((dim, T - 1))
    t0 = 0
    if S == 1 and not (a_sd[0] == 0 and a_mean[0] == 1):  # single_state: one fGn run,
        import anomgrad as ag  # anomgrad's FBM (tested against a Cholesky reference)

        f = ag.generate("fbm", 1, T, alpha[0], dim, seed, start=traj, dtype=np.float64)[0]
        steps = math.sqrt(2 * D[0]) * np.diff(f, axis=-1)
        t0 = T - 1
    while t0 < T - 1:  # runs of steps under one state (step t uses the state at t - 1)
        t1 = t0
        while t1 < T - 1 and state[t1] == state[t0]:
            t1 += 1
        s = state[t0]
        g = fgn_autocovariance(alpha[s] / 2.0, t1 - t0)
        k = np.arange(t1 - t0)
        C = np.linalg.cholesky(g[np.abs(k[:, None] - k[None, :])])
        steps[:, t0:t1] = math.sqrt(2 * D[s]) * (z[:, t0:t1] @ C.T)
        t0 = t1
    x = np.zeros((dim, T))
    x[:, 0] = box * u0[1:1 + dim] if box > 0 else 0.0
    for t in range(1, T):
        x[:, t] = x[:, t - 1] + steps[:, t - 1]
        if box > 0:
            for a in range(dim):
                while not 0 <= x[a, t] <= box:
                    x[a, t] = 2 * box - x[a, t] if x[a, t] > box else -x[a, t]
    lab = np.stack([alpha[state], D[state], np.where(alpha[state] >= 1.9, 3.0, 2.0),
                    state.astype(np.float64)])
    return x, lab


def ref_traps(seed, traj, T, traps, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb):
    """One trajectory of anomgrad's immobile_traps, from docs/phenom.md with the same
    random numbers: alpha and D as state 0 of :func:`ref_states`, binding and unbinding
    frame by frame, every run of free steps a fresh fGn by a Cholesky factor (row k of
    the factor of the T - 1 step covariance is step k of a run), reflections in the box."""
    from anomgrad import rng

    lab_s = ref_states(seed, traj, 2, 1, np.ones((1, 1)), [a_mean], [a_sd], [d_mean],
                       [d_sd], [0.0], [1.0], 0.0, 0)[1]
    alpha, D = lab_s[0, 0], lab_s[1, 0]
    kind = 3.0 if alpha >= 1.9 else 2.0
    g = fgn_autocovariance(alpha / 2.0, T - 2)
    k = np.arange(T - 1)
    C = np.linalg.cholesky(g[np.abs(k[:, None] - k[None, :])])
    z = np.stack([rng.normals(seed, traj, 16 + a, T - 1)[0] for a in range(2)])
    u = rng.uniforms(seed, traj, 1, 2 * (T - 1))[0]
    x = np.zeros((2, T))
    x[:, 0] = box * rng.uniforms(seed, traj, 0, 4)[0, 1:3]
    lab = np.zeros((4, T))
    lab[:, 0] = alpha, D, kind, 0
    bound, run = False, 0
    for t in range(1, T):
        free_again = not (u[2 * (t - 1)] < Pu and bound)
        near = any(math.hypot(*(x[:, t - 1] - p)) < r for p in np.asarray(traps))
        bound = (bound and free_again) or (free_again and u[2 * t - 1] < Pb and near)
        if bound:
            x[:, t], lab[:, t], run = x[:, t - 1], (0, 0, 0, 1), 0
            continue
        t0 = t - 1 - run  # the run's first step
        step = C[run, :run + 1] @ z[:, t0:t].T
        run += 1
        x[:, t] = x[:, t - 1] + math.sqrt(2 * D) * step
        for a in range(2):
            while not 0 <= x[a, t] <= box:
                x[a, t] = 2 * box - x[a, t] if x[a, t] > box else -x[a, t]
        lab[:, t] = alpha, D, kind, 0
    return x, lab


def _andi_reflect(c, r, beg, end, precision=1e-4):
    """andi-datasets 2.1.13's ``_reflected_position`` loop, by its own construction
    (angles and rotations of the radius vector), as docs/phenom.md describes it."""
    c = np.asarray(c, float)

    def rot(v, ang):
        return np.array([v[0] * np.cos(ang) + v[1] * np.sin(ang),
                         -v[0] * np.sin(ang) + v[1] * np.cos(ang)])

    def ang(a, b):
        return np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))

    while True:
        if np.linalg.norm(c - beg) > r - precision:
            v = c - beg
            beg = c + (r - precision) * (-v / np.linalg.norm(v))
        d = end - beg  # the segment's exit point: the root of |beg + s d - c| = r in [0, 1]
        a, hb, cc = d @ d, (beg - c) @ d, (beg - c) @ (beg - c) - r * r
        inter = beg + (-hb + math.sqrt(max(hb * hb - a * cc, 0.0))) / a * d
        angle = ang(c - inter, beg - inter)
        radius = c - inter
        if ang(rot(radius, np.pi / 2), beg - inter) < np.pi / 2:
            angle = -angle
        bounce = rot(radius, angle)
        end = inter + np.linalg.norm(inter - end) * bounce / np.linalg.norm(bounce)
        if np.linalg.norm(end - c) <= r:
            return end
        beg = inter


def ref_confinement(seed, traj, T, centers, a, D, box, r, trans):
    """One trajectory of anomgrad's confinement from docs/phenom.md with the same random
    numbers, given its two states' ``a`` (alpha) and ``D`` and its compartments:
    entering is free, leaving happens with probability ``trans`` (else andi's
    reflection, :func:`_andi_reflect`), every run of steps under one state a fresh fGn
    by a Cholesky factor, the box's reflections."""
    from anomgrad import rng

    z = np.stack([rng.normals(seed, traj, 16 + q, T - 1)[0] for q in range(2)])
    coin = rng.uniforms(seed, traj, 1, T - 1)[0]
    C = []
    for s in range(2):
        g = fgn_autocovariance(a[s] / 2.0, T - 2)
        k = np.arange(T - 1)
        C.append(np.linalg.cholesky(g[np.abs(k[:, None] - k[None, :])]))
    centers = np.asarray(centers, float)
    x = np.zeros((2, T))
    x[:, 0] = box * rng.uniforms(seed, traj, 0, 4)[0, 1:3]
    dist = np.linalg.norm(centers - x[:, 0], axis=1)
    state = np.zeros(T, np.int64)
    state[0], comp = int(dist.min() < r), int(dist.argmin())
    run = 0
    for t in range(1, T):
        s = state[t - 1]
        t0 = t - 1 - run
        p = x[:, t - 1] + math.sqrt(2 * D[s]) * (C[s][run, :run + 1] @ z[:, t0:t].T)
        run += 1
        state[t] = s
        dist = np.linalg.norm(centers - p, axis=1)
        if s == 1 and dist[comp] > r:
            if coin[t - 1] < trans:
                if dist.min() < r:
                    comp = int(dist.argmin())
                else:
                    state[t] = 0
            else:
                p = _andi_reflect(centers[comp], r, x[:, t - 1], p)
        elif s == 0 and dist.min() < r:
            state[t], comp = 1, int(dist.argmin())
        if state[t] != s:
            run = 0
        for q in range(2):
            while not 0 <= p[q] <= box:
                p[q] = 2 * box - p[q] if p[q] > box else -p[q]
        x[:, t] = p
    kind = np.where(state == 1, 1.0, 3.0 if a[0] >= 1.9 else 2.0)
    return x, np.stack([np.asarray(a)[state], np.asarray(D)[state], kind, state])


def ref_dimers(seed, f, N, T, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb, stokes, eps):
    """Field ``f`` of anomgrad's dimerization (particles fN .. fN + N - 1), from
    docs/phenom.md with the same random numbers: each particle's free and dimer alpha
    and D as the two states of :func:`ref_states`, its normals and start; per frame the
    breaking coins (dimers by label), the binding coins (particles by index, candidates
    by index from the full distance matrix), with ``eps`` a new dimer's alpha redrawn
    from the field's stream 98; every run a fresh fGn by a Cholesky factor, a dimer
    moved by its first particle's run. Returns positions (N, 2, T) and labels (N, 4, T)."""
    from anomgrad import rng

    ids = [f * N + j for j in range(N)]
    par = [[ref_states(seed, i, 2, 1, np.eye(2), a_mean, a_sd, d_mean, d_sd, [0.0], [1.0],
                       0.0, s)[1][:2, 0] for s in (0, 1)] for i in ids]
    alpha = np.array([[p[0][0], p[1][0]] for p in par])
    D = np.array([[p[0][1], p[1][1]] for p in par])
    z = np.stack([np.stack([rng.normals(seed, i, 16 + a, T - 1)[0] for a in range(2)])
                  for i in ids])
    x = np.zeros((N, 2, T))
    x[:, :, 0] = [box * rng.uniforms(seed, i, 0, 4)[0, 1:3] for i in ids]
    coin, normal = _Stream(seed, f, 97, "uniforms"), _Stream(seed, f, 98, "normals")
    label, state = np.arange(N), np.zeros(N, np.int64)
    la, lD = alpha[:, 0].copy(), D[:, 0].copy()
    run = [None] * N  # a moving particle's run: (first step, alpha, D)
    owner = np.arange(N)
    for j in range(N):
        run[j] = (0, alpha[j, 0], D[j, 0])
    lab = np.zeros((N, 4, T))
    lab[:, :, 0] = np.stack([la, lD, np.where(la >= 1.9, 3.0, 2.0), state], axis=1)
    for t in range(1, T):
        changed = np.zeros(N, bool)
        top = max_label = label.max()
        for lb in sorted({label[j] for j in range(N) if state[j] == 1}):  # breaking
            if coin() < Pu:
                for q in np.flatnonzero((label == lb) & (state == 1)):
                    state[q], changed[q], top = 0, True, top + 1
                    label[q] = top
        taken = np.zeros(N, bool)
        for n_ in range(N):  # binding
            if taken[n_] or state[n_] == 1 or label[n_] > max_label:
                continue
            for c in range(N):
                dx, dy = x[n_, :, t - 1] - x[c, :, t - 1]
                d = math.sqrt(dx * dx + dy * dy)
                if c == n_ or not 0 < d < 2 * r:
                    continue
                if taken[c] or state[c] == 1 or label[c] > max_label:
                    continue
                if coin() < Pb:
                    taken[c] = taken[n_] = True
                    state[n_] = state[c] = 1
                    changed[n_] = changed[c] = True
                    label[c] = label[n_]
                    break
        prev = lD.copy()
        for j in range(N):
            if not changed[j]:
                continue
            pair = np.flatnonzero(label == label[j])
            if state[j] == 1 and eps != 0 and j == pair.min():  # a new dimer's own alpha
                lo, a = alpha[pair, 0].min(), None
                while a is None or lo - a < eps:
                    a = _truncated(normal, a_mean[1], a_sd[1], 0.0, 1.999)
                alpha[pair, 1] = a
        for j in range(N):
            if not changed[j]:
                continue
            pair = np.flatnonzero(label == label[j])
            s = state[j]
            other = pair[pair != j][-1] if len(pair) > 1 else j
            lD[j] = 1 / (1 / prev[j] + 1 / prev[other]) if s == 1 and stokes else D[j, s]
            la[j] = alpha[j, s]
            owner[j] = pair.min()
        for j in range(N):
            if changed[j] and owner[j] == j:
                run[j] = (t - 1, la[j], lD[j])
        for j in range(N):
            o = owner[j]
            t0, a, d = run[o]
            k = t - 1 - t0  # the run's step
            g = fgn_autocovariance(a / 2.0, k + 1)
            C = np.linalg.cholesky(g[np.abs(np.arange(k + 1)[:, None] - np.arange(k + 1))])
            step = z[o, :, t0:t] @ C[k]
            x[j, :, t] = x[j, :, t - 1] + math.sqrt(2 * d) * step
            for q in range(2):
                while not 0 <= x[j, q, t] <= box:
                    x[j, q, t] = 2 * box - x[j, q, t] if x[j, q, t] > box else -x[j, q, t]
            lab[j, :, t] = la[j], lD[j], 3.0 if la[j] >= 1.9 else 2.0, state[j]
    return x, lab
