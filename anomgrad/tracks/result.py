"""What ``ag.classify`` returns: :class:`ClassifyResult`, one entry per input track in
input order.

Fields (arrays and lists of length n): ``ids``, ``lengths``, ``status`` ("ok" or why the
track was not classified, :data:`anomgrad.tracks.checks.STATUSES`), ``message``,
``probabilities`` (n, 8; NaN rows for tracks not classified), ``label`` (the predicted
class, -1 when not classified), ``windows`` (per track, each window's start, end,
probabilities and label), ``gradcam`` (per-step maps with ``gradcam=True``), ``truth``
(the true class where the input said it, else -1), ``notes`` (what reading left out),
``model`` (the checkpoint's metadata) and ``tracks`` (the input as ``Tracks``).

Derived: ``class_name``, ``top_probability``, ``uncertain`` (top probability below
:data:`~anomgrad.resandi.calibration.UNCERTAIN_BELOW`), ``n_classified``,
``n_uncertain``, ``accuracy()`` (on the tracks with a known class), ``alpha_range(i)``
(the predicted class's alpha range in training, not an estimate); ``alpha`` and
``alpha_std`` (the shipped models' estimate of each track's exponent, a Gaussian mean and
standard deviation: :mod:`anomgrad.resandi.alpha`); ``alpha_msd`` and ``K``
(the TA-MSD power law of each classified track, :mod:`anomgrad.tracks.msd`, K in
``K_unit``); ``rows()`` gives the
flat rows of ``classification.csv`` (columns in docs/classify.md) and ``to_frame()``
the same as a pandas ``DataFrame``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..resandi.calibration import UNCERTAIN_BELOW
from ..resandi.task import CLASS_ALPHA, CLASS_NAMES, confusion_matrix


def joined(parts: list, kind=np.concatenate):
    """The parts (arrays, or lists with ``kind=list``) one after the other; None when a
    part is None (a field the results of a run do not all have)."""
    if any(p is None for p in parts):
        return None
    return [x for p in parts for x in p] if kind is list else kind(parts)


def evaluation(truth, label, true_alpha=None, alpha=None, alpha_msd=None) -> dict | None:
    """Scores against the truth the input gave (None when it gave none): accuracy, the
    confusion matrix (rows: true class) and per-class accuracy over the classified
    tracks of known class (``truth`` and ``label`` >= 0), and, where the true exponents
    are known, the mean absolute error of ``alpha`` and of ``alpha_msd``."""
    known = (truth >= 0) & (label >= 0)
    out = {}
    if known.any():
        t, p = truth[known], label[known]
        cm = confusion_matrix(t, p, len(CLASS_NAMES))
        out.update(n_known=int(known.sum()), accuracy=float((t == p).mean()),
                   confusion=cm.tolist(),
                   per_class={n: float(cm[c, c] / cm[c].sum()) if cm[c].sum() else None
                              for c, n in enumerate(CLASS_NAMES)})
    if true_alpha is not None:
        ta = np.asarray(true_alpha, np.float64)
        for key, est in (("alpha_mae", alpha), ("alpha_msd_mae", alpha_msd)):
            if est is not None:
                m = np.isfinite(ta) & np.isfinite(est)
                if m.any():
                    out[key] = float(np.abs(est[m] - ta[m]).mean())
                    out["n_known_alpha"] = int(m.sum())
    return out or None


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
    alpha_msd: np.ndarray | None = None  # (n,) the TA-MSD exponent (the baseline; NaN if not ok)
    alpha: np.ndarray | None = None  # (n,) the network's alpha (shipped models; NaN otherwise)
    alpha_std: np.ndarray | None = None  # (n,) its standard deviation
    K: np.ndarray | None = None  # (n,) generalized diffusion coefficient in units["length"]^2/units["time"]^alpha
    units: dict = dataclasses.field(default_factory=lambda: {"length": "unit", "time": "frame"})

    @property
    def K_unit(self) -> str:
        return f"{self.units['length']}^2/{self.units['time']}^alpha"

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
        On andi-made test tracks 5-9 % of the tracks are flagged by the default (robust)
        model, and 33-41 % of those are right against 88-94 % of the others
        (docs/results.md §3)."""
        return (self.label >= 0) & (np.nan_to_num(self.top_probability, nan=1.0) < UNCERTAIN_BELOW)

    @property
    def n_uncertain(self) -> int:
        return int(self.uncertain.sum())

    def accuracy(self) -> float:
        """Accuracy on the classified tracks whose true class the input said (NaN if none)."""
        return (self.evaluation() or {}).get("accuracy", math.nan)

    def rows(self) -> list[dict]:
        """One flat row per track (the CSV), built column by column."""
        def rounded(values, digits):  # "" where not finite, as the CSV writes it
            return ["" if not math.isfinite(v) else round(v, digits) for v in values]

        n = len(self.ids)
        if n == 0:
            return []
        ranges = [CLASS_ALPHA[k] if k >= 0 else ("", "") for k in self.label.tolist()]
        cols = {"track_id": self.ids, "length": self.lengths.tolist(), "status": self.status,
                "predicted": [name or "" for name in self.class_name],
                "label": self.label.tolist(),
                "uncertain": ["" if k < 0 else u for k, u in
                              zip(self.label.tolist(), self.uncertain.tolist())],
                "class_alpha_min": [r[0] for r in ranges],
                "class_alpha_max": [r[1] for r in ranges],
                "windows": [len(w) for w in self.windows],
                "true_class": [CLASS_NAMES[t] if t >= 0 else "" for t in self.truth.tolist()]}
        P = np.asarray(self.probabilities, np.float64)
        for c, name in enumerate(CLASS_NAMES):
            cols[f"p_{name}"] = rounded(P[:, c].tolist(), 6)
        if self.alpha is not None:
            cols["alpha"] = rounded(np.asarray(self.alpha, np.float64).tolist(), 4)
            cols["alpha_std"] = rounded(np.asarray(self.alpha_std, np.float64).tolist(), 4)
        if self.alpha_msd is not None:
            cols["alpha_msd"] = rounded(np.asarray(self.alpha_msd, np.float64).tolist(), 4)
            cols["K"] = ["" if not math.isfinite(k) else float(f"{k:.5g}")
                         for k in np.asarray(self.K, np.float64).tolist()]
            cols["K_unit"] = [self.K_unit] * n
        cols["message"] = self.message
        keys = list(cols)
        return [dict(zip(keys, values)) for values in zip(*cols.values())]

    def evaluation(self) -> dict | None:
        """:func:`evaluation` of these tracks against the truth the input gave."""
        return evaluation(self.truth, self.label, self.true_alpha, self.alpha, self.alpha_msd)

    @property
    def true_alpha(self) -> np.ndarray | None:
        """(n,) the exponents the input said (NaN where unknown), or None."""
        return None if self.tracks is None else getattr(self.tracks, "alpha", None)

    def window_rows(self) -> list[dict]:
        """One row per window of every classified track (``windows.csv``): the track, the
        window's number, its first and last frame, its class, probabilities and alpha."""
        out = []
        for i, tid in enumerate(self.ids):
            fr = self.tracks.frames_of(i) if self.tracks is not None else None
            for k, w in enumerate(self.windows[i]):
                s, e = w["start"], w["end"]
                row = {"track_id": tid, "window": k,
                       "first_frame": int(fr[s]) if fr is not None else s,
                       "last_frame": int(fr[e - 1]) if fr is not None else e - 1,
                       "predicted": CLASS_NAMES[w["label"]], "label": w["label"]}
                row.update({f"p_{n}": round(float(p), 6)
                            for n, p in zip(CLASS_NAMES, w["probabilities"])})
                if "alpha" in w:
                    row.update(alpha=round(w["alpha"], 4), alpha_std=round(w["alpha_std"], 4))
                out.append(row)
        return out

    def take(self, idx) -> "ClassifyResult":
        """The entries ``idx`` (positions) as a result of their own."""
        idx = np.asarray(list(idx), np.int64)
        arr = lambda a: None if a is None else a[idx]  # noqa: E731
        lst = lambda a: None if a is None else [a[i] for i in idx]  # noqa: E731
        return dataclasses.replace(
            self, ids=lst(self.ids), lengths=arr(self.lengths), status=lst(self.status),
            message=lst(self.message), probabilities=arr(self.probabilities),
            label=arr(self.label), windows=lst(self.windows), gradcam=lst(self.gradcam),
            truth=arr(self.truth), tracks=None if self.tracks is None else self.tracks.take(idx),
            alpha_msd=arr(self.alpha_msd), alpha=arr(self.alpha), alpha_std=arr(self.alpha_std),
            K=arr(self.K))

    @classmethod
    def concat(cls, parts) -> "ClassifyResult":
        """The entries of ``parts`` (results of one run) one after the other."""
        parts = list(parts)
        arr = lambda name: joined([getattr(p, name) for p in parts])  # noqa: E731
        lst = lambda name: joined([getattr(p, name) for p in parts], list)  # noqa: E731
        tracks = (None if any(p.tracks is None for p in parts)
                  else type(parts[0].tracks).concat([p.tracks for p in parts]))
        return dataclasses.replace(
            parts[0], ids=lst("ids"), lengths=arr("lengths"), status=lst("status"),
            message=lst("message"), probabilities=arr("probabilities"), label=arr("label"),
            windows=lst("windows"), gradcam=lst("gradcam"), truth=arr("truth"),
            tracks=tracks, alpha_msd=arr("alpha_msd"), alpha=arr("alpha"),
            alpha_std=arr("alpha_std"), K=arr("K"))

    def to_frame(self):
        """:meth:`rows` as a pandas ``DataFrame`` (one row per track)."""
        import pandas as pd  # lazy: pandas (the result itself needs only numpy)

        return pd.DataFrame(self.rows())


__all__ = ["ClassifyResult", "evaluation", "joined"]
