"""Classify and explain your own trajectories: ``ag.classify`` and ``anomgrad classify``.

``ag.classify(tracks)`` takes tracks in any form :mod:`.inputs` reads (a tracking CSV, a
file of another supported format, arrays, a list of arrays, a DataFrame) and returns a
:class:`ClassifyResult` with one entry per input track, in input order: its status (every
track is listed; those ResAnDi cannot classify say why, see :mod:`.checks`), the
probabilities of the 8 classes, the predicted class, the alpha range that class was
trained on, and, with ``gradcam=True``, the Grad-CAM of every step.

* The model is the one that ships with anomgrad (``ag.pretrained()``) unless another
  checkpoint is given.  It runs on the GPU when torch sees one, else on the CPU.
* Preprocessing is the training one: each track (or window of 1000 positions of a longer
  track) is AnDi-normalized over its own length, left-padded with zeros to 1000 steps
  and min-max scaled.  Long tracks: the mean of the windows' probabilities, and each
  window's own answer in ``windows``.
* Grad-CAM is the paper's: layer 4, signed, nearest upsampling; the true class is
  unknown, so the *predicted* class is the target.  Steps covered by several windows get
  the mean of their maps.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import _validate as V
from .._callable import make_callable
from ..resandi.calibration import UNCERTAIN_BELOW
from ..resandi.nn import load_checkpoint
from ..resandi.precision import check_amp
from ..resandi.pretrained import SHIPPED, pretrained
from ..resandi.task import CLASS_ALPHA, CLASS_NAMES
from .checks import STATUSES, check_track
from .inputs import as_tracks
from .run import combine, infer


@dataclasses.dataclass
class ClassifyResult:
    """One entry per input track (arrays of length n, lists of n)."""

    ids: list  # track ids (strings)
    lengths: np.ndarray  # positions per track
    status: list  # "ok" or why not classified (checks.STATUSES)
    message: list  # "" or the reason, naming the track
    probabilities: np.ndarray  # (n, 8); NaN rows for unclassified tracks
    label: np.ndarray  # (n,) predicted class, -1 when not classified
    windows: list  # per track: [{start, end, probabilities, label}] of its windows
    gradcam: list | None  # per track: (T_i,) Grad-CAM of the predicted class, or None
    truth: np.ndarray  # (n,) the true class where the input said it, -1 elsewhere
    notes: list  # what reading the input left out
    model: dict  # the checkpoint's metadata (family, width, ...)
    tracks: object = None  # the input as anomgrad.io.tracks.Tracks

    @property
    def class_name(self) -> list:
        return [CLASS_NAMES[k] if k >= 0 else None for k in self.label]

    def alpha_range(self, i: int):
        """The alpha range class ``label[i]`` was trained on (it is the class's range,
        not an estimate of the track's alpha); None when not classified."""
        k = int(self.label[i])
        return None if k < 0 else tuple(CLASS_ALPHA[k])

    @property
    def n_classified(self) -> int:
        return int((self.label >= 0).sum())

    @property
    def top_probability(self) -> np.ndarray:
        """(n,) the predicted class's probability (NaN when not classified)."""
        p = np.full(len(self.ids), np.nan)
        ok = self.label >= 0
        p[ok] = self.probabilities[ok, self.label[ok]]
        return p

    @property
    def uncertain(self) -> np.ndarray:
        """(n,) bool: classified with a top probability below ``UNCERTAIN_BELOW`` (0.5).
        On andi-made test tracks 8-12 % of the tracks are flagged by the robust model, and
        37-40 % of those are right against 85-91 % of the others (docs/results.md §3)."""
        return (self.label >= 0) & (np.nan_to_num(self.top_probability, nan=1.0) < UNCERTAIN_BELOW)

    @property
    def n_uncertain(self) -> int:
        return int(self.uncertain.sum())

    def accuracy(self) -> float:
        """Accuracy on the classified tracks whose true class the input said (NaN if none)."""
        known = (self.truth >= 0) & (self.label >= 0)
        return float((self.label[known] == self.truth[known]).mean()) if known.any() else math.nan

    def rows(self) -> list[dict]:
        """One flat row per track (the CSV)."""
        out = []
        names = self.class_name  # once: the property builds the whole list
        uncertain = self.uncertain
        for i, tid in enumerate(self.ids):
            a = self.alpha_range(i)
            row = {"track_id": tid, "length": int(self.lengths[i]), "status": self.status[i],
                   "predicted": names[i] or "", "label": int(self.label[i]),
                   "uncertain": "" if self.label[i] < 0 else bool(uncertain[i]),
                   "class_alpha_min": "" if a is None else a[0],
                   "class_alpha_max": "" if a is None else a[1],
                   "windows": len(self.windows[i]),
                   "true_class": CLASS_NAMES[self.truth[i]] if self.truth[i] >= 0 else ""}
            for c, name in enumerate(CLASS_NAMES):
                p = self.probabilities[i, c]
                row[f"p_{name}"] = "" if not np.isfinite(p) else round(float(p), 6)
            row["message"] = self.message[i]
            out.append(row)
        return out


def _model(model, device):
    dev = V.torch_device(device)
    if model is None:
        return pretrained(dev, meta=True)
    if isinstance(model, str) and model in SHIPPED:
        return pretrained(dev, meta=True, name=model)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        return load_checkpoint(model, map_location=dev)
    return model.to(dev).eval(), {"arch": getattr(model, "config", None)}


def classify(tracks, *, model=None, gradcam: bool = False, device=None, amp="auto",
             batch_size: int = 512, progress: bool = False, **read) -> ClassifyResult:
    """Classify (and explain, with ``gradcam=True``) every track of ``tracks``.

    tracks : a path or in-memory tracks (:mod:`anomgrad.classify.inputs`); ``read``
        passes reading options (``fmt``, ``dim``, ``ref``, ``id_col``, ``frame_col``,
        ``x_col``, ``y_col``).
    model : None or "clean" (the shipped model trained on noiseless tracks), "robust" (the
        shipped model trained under localization noise: for noisy tracks, see
        docs/classify.md), a checkpoint path, or a ResAnDi module.
    device : "cpu", "cuda", ... (default: CUDA when available).
    amp : "auto" (bf16 autocast where the hardware has it, the stem in fp32), "bf16" or
        "none" (fp32); see :mod:`anomgrad.resandi.precision`.
    """
    batch_size = V.check_int("batch_size", batch_size, 1)
    check_amp(amp)
    net, meta = _model(model, device)
    t, notes, truth = as_tracks(tracks, **read)
    checks = [check_track(t.ids[i], t.positions[i], t.frames_of(i)) for i in range(len(t))]
    ok = [i for i, (s, _) in enumerate(checks) if s == "ok"]
    rows, probs, cams = infer(net, t, ok, gradcam=gradcam, amp=amp, batch_size=batch_size,
                              progress=progress)
    mean, per_window, maps = combine(len(t), t.lengths, rows, probs, cams)
    label = np.where(np.isfinite(mean).all(1), np.nan_to_num(mean).argmax(1), -1)
    return ClassifyResult(t.ids, t.lengths, [s for s, _ in checks], [m for _, m in checks],
                          mean, label.astype(np.int64), per_window, maps, truth, notes,
                          {k: v for k, v in meta.items() if k != "config"}, t)


# ``ag.classify(...)`` calls classify() whether ``anomgrad.classify`` names this package
# or the function (importing a submodule binds the package there; found by fuzzing)
make_callable(__name__, classify)

__all__ = ["STATUSES", "ClassifyResult", "classify"]
