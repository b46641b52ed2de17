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
        gaps = [f"{frames[k] + 1}-{frames[k + 1] - 1}" for k in i[:5]]
        return "missing_frames", (f"{name}: frames {', '.join(gaps)}"
                                  f"{' and more' if i.size > 5 else ''} are missing; ResAnDi "
                                  f"needs one position per frame (fill the gaps or split the "
                                  f"track)")
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


def windows(T: int, length: int = LENGTH) -> list[tuple[int, int]]:
    """``(start, end)`` of the windows of a track of ``T`` positions (module docstring)."""
    if T <= length:
        return [(0, T)]
    n = -(-T // length)
    starts = np.round(np.linspace(0, T - length, n)).astype(int)
    return [(int(s), int(s) + length) for s in starts]


__all__ = ["STATUSES", "check_track", "windows"]
