"""``ag.classify``: every track of the input through ResAnDi (and Grad-CAM), as a
:class:`~anomgrad.tracks.result.ClassifyResult` (the package docstring says how)."""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..resandi.nn import load_checkpoint
from ..resandi.precision import check_amp
from ..resandi.pretrained import DEFAULT, SHIPPED, alpha_head, pretrained
from .checks import GAPS, check_track, split_at_gaps
from .inputs import as_tracks
from .msd import check_scale, fit_tracks
from .result import ClassifyResult
from .run import combine, infer


def _model(model, device):
    """``(network, metadata, alpha head or None)``: the shipped models have a head."""
    dev = V.torch_device(device)
    if model is None or (isinstance(model, str) and model in SHIPPED):
        name = model or DEFAULT
        net, meta = pretrained(dev, meta=True, name=name)
        return net, meta, alpha_head(name, dev)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        return (*load_checkpoint(model, map_location=dev), None)
    return model.to(dev).eval(), {"arch": getattr(model, "config", None)}, None


def classify(tracks, *, model=None, gradcam: bool = False, device=None, amp="auto",
             batch_size: int = 512, progress: bool = False, pixel_size: float | None = None,
             frame_interval: float | None = None, gaps: str = "refuse",
             **read) -> ClassifyResult:
    """Classify (and explain, with ``gradcam=True``) every track of ``tracks``.

    tracks : a path or in-memory tracks (:mod:`anomgrad.tracks.inputs`); ``read``
        passes reading options (``fmt``, ``dim``, ``ref``, ``id_col``, ``frame_col``,
        ``x_col``, ``y_col``).
    model : None or "clean" (the shipped model trained on noiseless tracks), "robust" (the
        shipped model trained under localization noise: for noisy tracks, see
        docs/classify.md), a checkpoint path, or a ResAnDi module.
    device : "cpu", "cuda", ... (default: CUDA when available).
    amp : "auto" (bf16 autocast where the hardware has it, the stem in fp32), "bf16" or
        "none" (fp32); see :mod:`anomgrad.resandi.precision`.
    pixel_size, frame_interval : micrometres per unit of the positions and seconds per
        frame: the TA-MSD fit of every classified track (``alpha_msd``, ``K``,
        :mod:`anomgrad.tracks.msd`) is then in um^2 / s^alpha (default: the input's units
        and frames).
    gaps : "refuse" (a track with missing frames is listed as ``missing_frames``) or
        "split" (it is cut at its gaps and each piece, named ``ID[first-last]``, is
        classified on its own).
    """
    batch_size = V.check_int("batch_size", batch_size, 1)
    check_amp(amp)
    scale = 1.0 if pixel_size is None else check_scale("pixel_size", pixel_size)
    dt = 1.0 if frame_interval is None else check_scale("frame_interval", frame_interval)
    units = {"length": "unit" if pixel_size is None else "um",
             "time": "frame" if frame_interval is None else "s"}
    net, meta, head = _model(model, device)
    if gaps not in GAPS:
        raise ValueError(f"gaps must be one of {', '.join(map(repr, GAPS))}, got {gaps!r}")
    t, notes, truth = as_tracks(tracks, **read)
    if gaps == "split":
        n0 = len(t)
        t, parent = split_at_gaps(t)
        truth = truth[parent]
        if len(t) > n0:
            cut = np.unique(parent[1:][parent[1:] == parent[:-1]])
            notes = notes + [f"{len(cut)} tracks with missing frames split into "
                             f"{int(np.isin(parent, cut).sum())} pieces"]
    checks = [check_track(t.ids[i], t.positions[i], t.frames_of(i)) for i in range(len(t))]
    ok = [i for i, (s, _) in enumerate(checks) if s == "ok"]
    rows, probs, cams, alphas = infer(net, t, ok, gradcam=gradcam, amp=amp,
                                      batch_size=batch_size, progress=progress, head=head)
    mean, per_window, maps, alpha = combine(len(t), t.lengths, rows, probs, cams, alphas)
    label = np.where(np.isfinite(mean).all(1), np.nan_to_num(mean).argmax(1), -1)
    alpha_msd, K = np.full(len(t), np.nan), np.full(len(t), np.nan)
    if ok:
        alpha_msd[ok], K[ok] = fit_tracks([t.positions[i] for i in ok], pixel_size=scale,
                                          frame_interval=dt)
    return ClassifyResult(t.ids, t.lengths, [s for s, _ in checks], [m for _, m in checks],
                          mean, label.astype(np.int64), per_window, maps, truth, notes,
                          {k: v for k, v in meta.items() if k != "config"}, t,
                          alpha_msd=alpha_msd, K=K, units=units, alpha=alpha[:, 0],
                          alpha_std=alpha[:, 1])


__all__ = ["classify"]
