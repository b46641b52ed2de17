"""Tracks through a ResAnDi: windows, the training preprocessing, probabilities and
Grad-CAM, in batches on the model's device."""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from ..cam import gradcam_full
from ..resandi.nn import ResAnDi, fold_batchnorm, unwrap
from ..resandi.precision import autocast, use_bf16
from ..resandi.preprocess import preprocess
from ..resandi.task import DIM, LENGTH
from .checks import windows


def _window_rows(tracks, ok):
    """(track, start, end) of every window of the tracks to classify."""
    return [(i, s, e) for i in ok for s, e in windows(len(tracks.positions[i]))]


def _batch_inputs(tracks, rows, input: str = "positions") -> np.ndarray:
    """The network inputs of ``rows`` (the training preprocessing of each window, for a
    network reading ``input``)."""
    raw = np.zeros((len(rows), DIM, LENGTH), np.float64)
    T = np.empty(len(rows), np.int64)
    for k, (i, s, e) in enumerate(rows):
        p = tracks.positions[i][s:e]
        raw[k, :, :e - s] = (p - p[0]).T
        T[k] = e - s
    return preprocess(raw, T, input=input)


def infer(model, tracks, ok, *, gradcam: bool = False, amp="auto", batch_size: int = 512,
          progress: bool = False, head=None):
    """Per window of the tracks ``ok``: ``rows`` (track, start, end), softmax
    probabilities (m, classes), with ``gradcam`` the signed layer-4 Grad-CAM of the
    predicted class over the window's own steps (a list of arrays), and with an alpha
    ``head`` (:class:`anomgrad.resandi.alpha.AlphaHead`) alpha's mean and std (m, 2)."""
    dev = next(model.parameters()).device
    bf16 = use_bf16(amp, dev)
    kind = getattr(model, "input", "positions")
    rows = _window_rows(tracks, ok)
    probs, cams, alphas = [], [], []
    was = model.training
    model.eval()
    net = model  # forward passes alone: BatchNorm folded into the convolutions (faster)
    if not gradcam and isinstance(unwrap(model), ResAnDi):
        net = fold_batchnorm(model)
    try:
        for lo in tqdm(range(0, len(rows), batch_size), disable=not progress, unit="batch",
                       desc="classify", file=sys.stderr):
            chunk = rows[lo:lo + batch_size]
            x = torch.from_numpy(_batch_inputs(tracks, chunk, kind)).to(dev)
            if gradcam:
                r = gradcam_full(model, x, "layer4", None, cam=True, batch_size=batch_size,
                                 amp=bf16)
                logits, cam = r.logits, r.cam.cpu().numpy()
                cams += [cam[k, LENGTH - (e - s):] for k, (_, s, e) in enumerate(chunk)]
                if head is not None:
                    with torch.inference_mode(), autocast(dev, bf16):
                        feats = model.features(x)
            elif hasattr(net, "features"):  # a ResAnDi: its features serve the alpha head
                with torch.inference_mode(), autocast(dev, bf16):
                    feats = net.features(x)
                    logits = net.fc(feats)
            else:  # any other network mapping the input to logits
                with torch.inference_mode(), autocast(dev, bf16):
                    logits = net(x)
            probs.append(torch.softmax(logits.float(), 1).cpu().numpy().astype(np.float64))
            if head is not None:
                lengths = torch.tensor([e - s for _, s, e in chunk], device=dev)
                with torch.inference_mode():
                    m, sd = head(feats.float(), lengths)
                alphas.append(torch.stack([m, sd], 1).cpu().numpy().astype(np.float64))
    finally:
        model.train(was)
    ncls = getattr(model, "num_classes", 8)
    p = np.concatenate(probs) if probs else np.empty((0, ncls))
    a = None if head is None else (np.concatenate(alphas) if alphas else np.empty((0, 2)))
    return rows, p, (cams if gradcam else None), a


TRACK_RULE = "first"  # a long track's answer: its first window's (bench/long_tracks.py)


def combine(n: int, lengths, rows, probs, cams, alphas=None):
    """Per track: its answer, the windows' own answers, the Grad-CAM of every step
    averaged over the windows covering it, and (with ``alphas``) alpha with its std.

    A track longer than the network's 1000 steps takes the answer (probabilities and
    alpha) of its **first window**: the network learned on tracks that start at the
    process's time origin, and for processes whose statistics change with time (SBM,
    CTRW's ageing) the later windows are not what it learned.  The first window of an
    exact sample is an exact sample of T = 1000, so the track keeps the accuracy of
    T = 1000: measured (bench/long_tracks.py, 8,000 tracks per length), 95.2 and 95.4 %
    at T = 2,000 and 5,000 against 95.8 % at T = 1000 (sampling error about 0.35 points),
    while the mean over windows fell to 69.4 % at T = 5,000 (super-SBM 22 %).  Every
    window's answer stays in ``windows``."""
    ncls = probs.shape[1] if probs.ndim == 2 else 8
    mean = np.full((n, ncls), np.nan)
    per_window = [[] for _ in range(n)]
    for k, (i, s, e) in enumerate(rows):
        per_window[i].append({"start": s, "end": e, "probabilities": probs[k].tolist(),
                              "label": int(probs[k].argmax())})
        if alphas is not None:
            per_window[i][-1].update(alpha=float(alphas[k, 0]), alpha_std=float(alphas[k, 1]))
    alpha = np.full((n, 2), np.nan)
    for i, w in enumerate(per_window):
        if w:  # the first window (TRACK_RULE)
            mean[i] = w[0]["probabilities"]
            if alphas is not None:
                alpha[i] = w[0]["alpha"], w[0]["alpha_std"]
    maps = None
    if cams is not None:
        maps = [None] * n
        acc, cnt = {}, {}
        for k, (i, s, e) in enumerate(rows):
            if i not in acc:
                acc[i], cnt[i] = np.zeros(lengths[i]), np.zeros(lengths[i])
            acc[i][s:e] += cams[k]
            cnt[i][s:e] += 1
        for i in acc:
            maps[i] = acc[i] / cnt[i]
    return mean, per_window, maps, alpha


__all__ = ["TRACK_RULE", "combine", "infer"]
