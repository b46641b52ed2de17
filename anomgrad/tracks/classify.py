"""``ag.classify``: every track of the input through ResAnDi (and Grad-CAM), as a
:class:`~anomgrad.tracks.result.ClassifyResult` (the package docstring says how)."""

from __future__ import annotations

import sys

import numpy as np
from tqdm import tqdm

from .. import _validate as V
from ..resandi.nn import load_checkpoint
from ..resandi.precision import check_amp
from ..resandi.pretrained import DEFAULT, SHIPPED, alpha_head, pretrained
from .checks import GAPS, check_tracks, split_at_gaps
from .inputs import as_tracks, scan_tracks
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


def _scales(pixel_size, frame_interval, calibration: dict):
    """``(um per unit, s per frame, units, note)``: the options given (checked by
    :func:`_options`), else what the file's header said (TrackMate's units row), else the
    input's own units."""
    got = {}
    for name, v in (("pixel_size", pixel_size), ("frame_interval", frame_interval)):
        if v is not None:
            got[name] = v
        elif name in calibration:
            got[name] = calibration[name]
    header = [k for k in calibration if pixel_size is None and k == "pixel_size"
              or frame_interval is None and k == "frame_interval"]
    note = None
    if header:
        note = "units from the file's header: " + ", ".join(
            f"{k.replace('_', ' ')} {calibration[k]:g} {'um' if k == 'pixel_size' else 's'}"
            for k in header)
    units = {"length": "um" if "pixel_size" in got else "unit",
             "time": "s" if "frame_interval" in got else "frame"}
    return got.get("pixel_size", 1.0), got.get("frame_interval", 1.0), units, note


def _split_note(cut: int, pieces: int) -> list[str]:
    return [f"{cut} tracks with missing frames split into {pieces} pieces"] if cut else []


def _classify(t, notes, truth, net, meta, head, *, gradcam, amp, batch_size, progress,
              pixel_size, frame_interval, gaps) -> tuple[ClassifyResult, tuple[int, int]]:
    """Every track of ``t`` (a :class:`~anomgrad.io.tracks.Tracks`) through the network;
    with the number of tracks ``gaps="split"`` cut and of the pieces they gave."""
    scale, dt, units, note = _scales(pixel_size, frame_interval, t.calibration)
    notes = list(notes) + ([note] if note else [])
    split = (0, 0)
    if gaps == "split":
        t, parent = split_at_gaps(t)
        cut = np.unique(parent[1:][parent[1:] == parent[:-1]])
        split = (len(cut), int(np.isin(parent, cut).sum()))
        truth = truth[parent]
    checks = check_tracks(t)
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
                          alpha_std=alpha[:, 1]), split


def _options(model, device, amp, batch_size, pixel_size, frame_interval, gaps):
    """The network (loaded once) and the checked options of a run."""
    batch_size = V.check_int("batch_size", batch_size, 1)
    check_amp(amp)
    pixel_size, frame_interval = (None if v is None else check_scale(name, v) for name, v in
                                  (("pixel_size", pixel_size), ("frame_interval", frame_interval)))
    if gaps not in GAPS:
        raise ValueError(f"gaps must be one of {', '.join(map(repr, GAPS))}, got {gaps!r}")
    net, meta, head = _model(model, device)
    return (net, meta, head), dict(amp=amp, batch_size=batch_size, pixel_size=pixel_size,
                                   frame_interval=frame_interval, gaps=gaps)


def classify(tracks, *, model=None, gradcam: bool = False, device=None, amp="auto",
             batch_size: int = 512, progress: bool = False, pixel_size: float | None = None,
             frame_interval: float | None = None, gaps: str = "refuse",
             **read) -> ClassifyResult:
    """Classify (and explain, with ``gradcam=True``) every track of ``tracks``.

    tracks : a path or in-memory tracks (:mod:`anomgrad.tracks.inputs`); ``read``
        passes reading options (``fmt``, ``dim``, ``ref``, ``id_col``, ``frame_col``,
        ``x_col``, ``y_col``, ``truth_col``).
    model : None or "robust" (the shipped model trained under localization noise, the
        default), "clean" (the shipped model trained on noiseless tracks, the paper's
        setting; see docs/classify.md), a checkpoint path, or a ResAnDi module.
    device : "cpu", "cuda", ... (default: CUDA when available).
    amp : "auto" (bf16 autocast where the hardware has it, the stem in fp32), "bf16" or
        "none" (fp32); see :mod:`anomgrad.resandi.precision`.
    pixel_size, frame_interval : micrometres per unit of the positions and seconds per
        frame: the TA-MSD fit of every classified track (``alpha_msd``, ``K``,
        :mod:`anomgrad.tracks.msd`) is then in um^2 / s^alpha (default: what a TrackMate
        file's units row says, else the input's units and frames).
    gaps : "refuse" (a track with missing frames is listed as ``missing_frames``) or
        "split" (it is cut at its gaps and each piece, named ``ID[first-last]``, is
        classified on its own).

    Everything is held in memory; for a file larger than memory use
    :func:`classify_chunks` (what ``anomgrad classify`` does).
    """
    net, opts = _options(model, device, amp, batch_size, pixel_size, frame_interval, gaps)
    t, notes, truth = as_tracks(tracks, **read)
    res, split = _classify(t, notes, truth, *net, gradcam=gradcam, progress=progress, **opts)
    res.notes += _split_note(*split)
    return res


CHUNK_TRACKS = 5_000  # tracks classified at once by classify_chunks (bench/experiment_csv.py)


class Chunked:
    """What :func:`classify_chunks` returns: iterate for a :class:`ClassifyResult` per
    chunk of tracks, in input order; ``n`` (tracks in the input) and ``notes`` (what
    reading left out, and after the iteration how many tracks ``gaps="split"`` cut)."""

    def __init__(self, n, notes, chunks, net, opts, gradcam, progress):
        self.n, self.notes = n, list(notes)
        self._chunks, self._net, self._opts = chunks, net, opts
        self._gradcam, self._progress = gradcam, progress

    def __iter__(self):
        split = [0, 0]
        with tqdm(total=self.n, unit="track", desc="classify", disable=not self._progress,
                  file=sys.stderr) as bar:
            for t, truth in self._chunks:
                if not len(t):
                    continue
                res, (cut, pieces) = _classify(t, [], truth, *self._net,
                                               gradcam=self._gradcam, progress=False,
                                               **self._opts)
                split = [split[0] + cut, split[1] + pieces]
                self.notes += [n for n in res.notes if n not in self.notes]
                res.notes = self.notes
                bar.update(len(t))
                yield res
        self.notes += _split_note(*split)


def classify_chunks(tracks, *, chunk_tracks: int = CHUNK_TRACKS, model=None,
                    gradcam: bool = False, device=None, amp="auto", batch_size: int = 512,
                    progress: bool = False, pixel_size: float | None = None,
                    frame_interval: float | None = None, gaps: str = "refuse",
                    spill_dir=None, **read) -> Chunked:
    """:func:`classify` in chunks of ``chunk_tracks`` tracks, for inputs of any size: a
    tracking CSV is read with bounded memory (:func:`anomgrad.io.tracking.scan_tracking_csv`,
    temporary files in ``spill_dir``), each chunk classified and handed over (to
    :class:`anomgrad.tracks.outputs.Writer`, say) before the next is read.  The rows are
    those of one :func:`classify` of the whole input.  ``progress`` shows one bar over
    all tracks."""
    chunk_tracks = V.check_int("chunk_tracks", chunk_tracks, 1)
    net, opts = _options(model, device, amp, batch_size, pixel_size, frame_interval, gaps)
    n, notes, chunks = scan_tracks(tracks, chunk_tracks, spill_dir=spill_dir, **read)
    return Chunked(n, notes, chunks, net, opts, gradcam, progress)


__all__ = ["CHUNK_TRACKS", "Chunked", "classify", "classify_chunks"]
