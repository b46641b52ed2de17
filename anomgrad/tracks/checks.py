"""What a track must be for ResAnDi to classify it, and how long tracks are cut.

A track is classified when it is two-dimensional, has at least ``T_MIN`` = 10
positions, one per frame (no gaps, no repeated frame), every position finite, and both
axes move.  Any other track gets a status and a message naming it, and the other tracks
are still classified: nothing is dropped silently.

Tracks longer than the network's 1000 steps are classified over windows of 1000
positions: ``ceil(T / 1000)`` windows whose starts are spread evenly from 0 to
T - 1000, so every position is in at least one window and neighbouring windows overlap
by less than 1000 positions.  Each window is preprocessed on its own (AnDi normalization
over the window), exactly as a 1000-step training trajectory.
"""

from __future__ import annotations

import numpy as np

from ..io.tracks import Tracks
from ..resandi.task import DIM, LENGTH, T_MIN

STATUSES = {
    "ok": "classified",
    "too_short": "fewer than 10 positions",
    "non_finite": "NaN or infinite positions",
    "duplicate_frames": "a frame appears twice",
    "missing_frames": "frames missing inside the track",
    "wrong_dim": "not two-dimensional",
    "one_axis": "only one axis moves",
    "still": "the track never moves",
}


def _frames_text(f) -> str:
    f = [int(v) for v in f]
    return ", ".join(map(str, f[:5])) + (f" and {len(f) - 5} more" if len(f) > 5 else "")


def _range(a, b) -> str:
    return str(int(a)) if a == b else f"{int(a)}-{int(b)}"


GAPS = ("refuse", "split")


def split_at_gaps(tracks):
    """``(pieces, parent)``: every track cut where frames are missing, each piece named
    ``ID[first-last]`` by its frames (tracks without gaps keep their id), and the index
    of each piece's track."""
    ids, pos, frames, parent = [], [], [], []
    for i in range(len(tracks)):
        f, p = tracks.frames_of(i), tracks.positions[i]
        cuts = np.flatnonzero(np.diff(f) > 1) + 1
        bounds = list(zip(np.r_[0, cuts], np.r_[cuts, len(f)]))
        for a, b in bounds:
            ids.append(tracks.ids[i] if len(bounds) == 1
                       else f"{tracks.ids[i]}[{_range(f[a], f[b - 1])}]")
            pos.append(p[a:b])
            frames.append(f[a:b])
            parent.append(i)
    parent = np.asarray(parent, np.int64)
    return Tracks(ids, pos, frames, tracks.model[parent], tracks.alpha[parent],
                  source=tracks.source, calibration=tracks.calibration), parent


def check_track(tid, positions: np.ndarray, frames: np.ndarray) -> tuple[str, str]:
    """``(status, message)`` of one track (positions (T, dim), frames (T,) sorted)."""
    T, dim = positions.shape
    name = f"track {tid}"
    if dim != DIM:
        return "wrong_dim", (f"{name}: {dim}-D positions; ResAnDi classifies 2-D tracks (give "
                             f"the x and y columns)")
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        return "non_finite", f"{name}: NaN or infinite position at frame(s) {_frames_text(frames[bad])}"
    d = np.diff(frames)
    if (d == 0).any():
        return "duplicate_frames", (f"{name}: frame(s) {_frames_text(frames[1:][d == 0])} appear "
                                    f"more than once; keep one position per frame")
    if (d > 1).any():
        i = np.flatnonzero(d > 1)
        gaps = [_range(frames[k] + 1, frames[k + 1] - 1) for k in i[:5]]
        many = len(i) > 1 or d[i[0]] > 2
        return "missing_frames", (f"{name}: frame{'s' if many else ''} {', '.join(gaps)}"
                                  f"{' and more' if i.size > 5 else ''} "
                                  f"{'are' if many else 'is'} missing; ResAnDi needs one "
                                  f"position per frame (fill the gaps, or --gaps split: "
                                  f"classify the pieces)")
    if T < T_MIN:
        return "too_short", f"{name}: {T} positions; ResAnDi needs at least {T_MIN}"
    moving = np.ptp(positions, axis=0) > 0
    if not moving.any():
        return "still", f"{name}: the position never changes over {T} frames"
    if not moving.all():
        axis = "xy"[int(np.flatnonzero(~moving)[0])]
        return "one_axis", (f"{name}: {axis} is constant over all {T} frames (a 1-D track "
                            f"given as 2-D?); ResAnDi classifies 2-D motion")
    return "ok", ""


def check_tracks(tracks) -> list[tuple[str, str]]:
    """:func:`check_track` of every track of ``tracks`` (a :class:`Tracks`): the common
    case (2-D, finite, one position per frame, long enough, both axes moving) decided
    for all 2-D tracks at once over their concatenated rows; the others, and only they,
    through :func:`check_track` for their status and message (the same answers as one
    :func:`check_track` per track, tested)."""
    n = len(tracks)
    ok = np.zeros(n, bool)
    flat = [i for i, p in enumerate(tracks.positions) if p.ndim == 2 and p.shape[1] == DIM
            and len(p)]
    if flat:
        L = np.array([len(tracks.positions[i]) for i in flat], np.int64)
        pos = np.concatenate([tracks.positions[i] for i in flat])
        starts = np.r_[0, np.cumsum(L)[:-1]]
        good = (L >= T_MIN) & np.logical_and.reduceat(np.isfinite(pos).all(axis=1), starts)
        if tracks.frames is not None:  # consecutive frames inside each track
            step = np.diff(np.concatenate([tracks.frames[i] for i in flat])) == 1
            step[starts[1:] - 1] = True  # the step from one track to the next
            good &= np.logical_and.reduceat(np.r_[step, True], starts)
        with np.errstate(invalid="ignore"):  # non-finite tracks are out already
            moving = np.maximum.reduceat(pos, starts) > np.minimum.reduceat(pos, starts)
        ok[flat] = good & moving.all(axis=1)
    return [("ok", "") if ok[i] else check_track(tracks.ids[i], tracks.positions[i],
                                                 tracks.frames_of(i)) for i in range(n)]


def windows(T: int, length: int = LENGTH) -> list[tuple[int, int]]:
    """``(start, end)`` of the windows of a track of ``T`` positions (module docstring)."""
    if T <= length:
        return [(0, T)]
    n = -(-T // length)
    starts = np.round(np.linspace(0, T - length, n)).astype(int)
    return [(int(s), int(s) + length) for s in starts]


__all__ = ["GAPS", "STATUSES", "check_track", "check_tracks", "split_at_gaps", "windows"]
