"""The anomalous exponent of every track, with its uncertainty: a small head on the
classifier's features (issue 20, item 2).

:class:`AlphaHead` maps the pooled layer-4 features of a trained ResAnDi
(:meth:`ResAnDi.features`, frozen) and log T to a Gaussian over alpha: a mean in (0, 2)
and a standard deviation, trained by the Gaussian negative log-likelihood on tracks whose
alpha is known (:func:`fit_head`).  The classifier is not changed, so its probabilities
stay what they were; the head costs one Linear pair per track.  ``bench/alpha_head.py``
trains the heads of the shipped models and measures them against the TA-MSD baseline
(:mod:`anomgrad.tracks.msd`) in docs/results.md §3.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .task import LENGTH

HIDDEN = 64
MIN_STD = 0.01


class AlphaHead(nn.Module):
    """features (N, F) and lengths (N,) -> (mean alpha in (0, 2), its std)."""

    def __init__(self, in_features: int, hidden: int = HIDDEN):
        super().__init__()
        self.config = {"in_features": int(in_features), "hidden": int(hidden)}
        self.net = nn.Sequential(nn.Linear(in_features + 1, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, features, lengths):
        logT = torch.log(lengths.to(features.dtype).clamp(min=1)) / math.log(LENGTH)
        o = self.net(torch.cat([features, logT[:, None]], 1))
        mean = 2.0 * torch.sigmoid(o[:, 0])
        std = MIN_STD + torch.nn.functional.softplus(o[:, 1])
        return mean, std


def fit_head(features: np.ndarray, lengths: np.ndarray, alpha: np.ndarray, *,
             epochs: int = 30, batch: int = 1024, lr: float = 2e-3, seed: int = 0,
             val_share: float = 0.1) -> tuple[AlphaHead, dict]:
    """An :class:`AlphaHead` fitted to ``(features, lengths) -> alpha`` (Gaussian NLL,
    AdamW, cosine schedule); the last ``val_share`` of the rows is held out, and the
    epoch with the lowest held-out NLL is kept.  Returns the head (eval mode) and a
    record: the held-out MAE and NLL per epoch."""
    g = torch.Generator().manual_seed(int(seed))
    F = torch.as_tensor(features, dtype=torch.float32)
    L = torch.as_tensor(lengths, dtype=torch.float32)
    A = torch.as_tensor(alpha, dtype=torch.float32)
    n = len(A)
    perm = torch.randperm(n, generator=g)
    nv = max(1, int(val_share * n))
    vi, ti = perm[:nv], perm[nv:]
    torch.manual_seed(int(seed))
    head = AlphaHead(F.shape[1])
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, (len(ti) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    best, best_state, hist = math.inf, None, []
    for ep in range(epochs):
        head.train()
        order = ti[torch.randperm(len(ti), generator=g)]
        for s in range(0, len(order), batch):
            k = order[s:s + batch]
            m, sd = head(F[k], L[k])
            loss = torch.nn.functional.gaussian_nll_loss(m, A[k], sd * sd)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        head.eval()
        with torch.no_grad():
            m, sd = head(F[vi], L[vi])
            nll = float(torch.nn.functional.gaussian_nll_loss(m, A[vi], sd * sd))
            mae = float((m - A[vi]).abs().mean())
        hist.append({"epoch": ep + 1, "val_nll": nll, "val_mae": mae})
        if nll < best:
            best, best_state = nll, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    head.eval()
    return head, {"history": hist, "n_train": int(len(ti)), "n_val": int(nv)}


__all__ = ["AlphaHead", "HIDDEN", "MIN_STD", "fit_head"]
