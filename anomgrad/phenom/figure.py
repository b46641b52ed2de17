"""A state-model track with its labels per frame, as a figure: the track in the plane
coloured by its state, and alpha and D along the frames (docs/phenom.md)."""

from __future__ import annotations

import numpy as np

from ..config import PHENOM_KINDS


def track_figure(x, labels, i: int = 0, title: str | None = None):
    """A matplotlib figure of track ``i`` of ``x`` (n, dim, T) with its ``labels``
    (n, 4, T): left, the track in the x-y plane, each step coloured by the state it
    moves with; right, alpha and D (log scale) of every frame, the kind of motion in
    the legend.  Save it with ``fig.savefig(path)`` (``anomgrad generate --figure``
    writes it atomically)."""
    from matplotlib.figure import Figure  # lazy: matplotlib (import anomgrad stays light)
    from matplotlib import colormaps  # lazy: matplotlib

    x, labels = np.asarray(x), np.asarray(labels)
    if x.ndim != 3 or labels.shape != (x.shape[0], 4, x.shape[2]) or x.shape[1] < 2:
        raise ValueError(f"x must be (n, dim >= 2, T) and labels (n, 4, T), got {x.shape} "
                         f"and {labels.shape}")
    if not 0 <= i < len(x):
        raise ValueError(f"i must be in [0, {len(x) - 1}], got {i}")
    p, lab = x[i], labels[i]
    state = lab[3].astype(int)
    colors = colormaps["tab10"]
    fig = Figure(figsize=(10, 4.2))
    a0, a1 = fig.subplots(1, 2)
    for t in range(1, p.shape[1]):  # step t moves with the state of frame t - 1
        a0.plot(p[0, t - 1:t + 1], p[1, t - 1:t + 1], color=colors(state[t - 1] % 10), lw=1)
    for s in np.unique(state):
        kind = PHENOM_KINDS[int(lab[2][state == s][0])]
        a0.plot([], [], color=colors(s % 10), label=f"state {s} ({kind})")
    a0.set(xlabel="x", ylabel="y", title="track, coloured by state")
    a0.set_aspect("equal", adjustable="datalim")
    a0.legend(fontsize=8)
    t = np.arange(p.shape[1])
    a1.step(t, lab[0], where="post", color="k", label="alpha")
    a1.set(xlabel="frame", ylabel="alpha", ylim=(0, 2))
    b = a1.twinx()
    b.step(t, lab[1], where="post", color="C3", label="D")
    b.set_yscale("log")
    b.set_ylabel("D", color="C3")
    a1.set_title("labels per frame")
    a1.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["track_figure"]
