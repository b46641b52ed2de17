"""Targeted erasure (method.md §5, the paper's Fig. 3).

For every trajectory and every decile band (p, p + 10) of its own upsampled layer-4
Grad-CAM (signed, nearest, target = true label), every Grad-CAM cell whose values all
lie strictly inside the band is erased (set to 0 in both axes of the min-max-scaled
input) and the trajectory is scored again.  The baseline erases the same number of
cells chosen uniformly at random (without replacement).  The band masks come from the
fused Grad-CAM kernel; the random cells from a seeded torch generator, so a run is
reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .cam import cam_nearest_index, gradcam_full

BAND_LABELS = [f"{10 * b}-{10 * b + 10}" for b in range(10)]


def _erase(x: torch.Tensor, cell_mask: torch.Tensor, step_cell: torch.Tensor) -> torch.Tensor:
    """x (n, C, T) with the steps of masked cells (n, L) set to 0."""
    keep = ~cell_mask[:, step_cell]  # (n, T)
    return x * keep[:, None, :].to(x.dtype)


def _random_like(cell_mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """As many cells per row as cell_mask, chosen uniformly without replacement."""
    n, L = cell_mask.shape
    k = cell_mask.sum(1, keepdim=True)
    ranks = torch.rand(n, L, generator=gen).argsort(1).argsort(1)  # a random permutation
    return (ranks < k.cpu()).to(cell_mask.device)


@torch.no_grad()
def _predict(model, x):
    return model(x).argmax(1)


def erasure(model: torch.nn.Module, x, y, *, layer: str = "layer4", nbands: int = 10,
            seed: int = 0, batch_size: int = 512, progress: bool = True) -> dict:
    """Accuracy after erasing each Grad-CAM band, against random erasure.

    x : (n, 2, T) preprocessed inputs (numpy or tensor, on the model's device or CPU);
    y : (n,) true labels.  Returns a dict with per-band accuracies (``targeted``,
    ``random``), their per-class breakdown, the mean number of erased cells per band and
    the accuracy without erasure.
    """
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).long()
    if x.ndim != 3 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, channels, T) and y (n,), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not isinstance(nbands, int) or nbands < 1:
        raise ValueError(f"nbands must be an integer >= 1, got {nbands!r}")
    n, _, T = x.shape
    C = model.fc.out_features if hasattr(model, "fc") else int(y.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    correct = {"targeted": torch.zeros(nbands, C), "random": torch.zeros(nbands, C)}
    base = torch.zeros(C)
    count = torch.zeros(C)
    erased = torch.zeros(nbands)
    try:
        for lo in tqdm(range(0, n, batch_size), disable=not progress, desc="erasure", unit="batch"):
            xb, yb = x[lo:lo + batch_size].to(dev), y[lo:lo + batch_size].to(dev)
            r = gradcam_full(model, xb, layer, yb, cam=False, nbands=nbands, batch_size=batch_size)
            L = r.bands.shape[-1]
            step_cell = cam_nearest_index(L, T).to(dev)
            onehot = torch.nn.functional.one_hot(yb, C).float().cpu()
            count += onehot.sum(0)
            base += onehot[(r.logits.argmax(1) == yb).cpu()].sum(0)
            for b in range(nbands):
                m = r.bands[:, b].to(dev)
                erased[b] += m.sum().cpu()
                for kind, mask in (("targeted", m), ("random", _random_like(m, gen))):
                    ok = (_predict(model, _erase(xb, mask, step_cell)) == yb).cpu()
                    correct[kind][b] += onehot[ok].sum(0)
    finally:
        model.train(was_training)
    acc = {k: (v.sum(1) / n * 100).tolist() for k, v in correct.items()}
    per_class = {k: (v / count.clamp_min(1) * 100).tolist() for k, v in correct.items()}
    return {"bands": BAND_LABELS[:nbands] if nbands == 10 else
            [f"{100 * b / nbands:g}-{100 * (b + 1) / nbands:g}" for b in range(nbands)],
            "targeted": acc["targeted"], "random": acc["random"],
            "targeted_per_class": per_class["targeted"], "random_per_class": per_class["random"],
            "mean_cells_erased": (erased / n).tolist(), "accuracy_no_erasure": float(base.sum() / n * 100),
            "n": n, "layer": layer, "seed": seed}
