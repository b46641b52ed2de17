"""``anomgrad classify`` (your own tracks through the shipped ResAnDi, with Grad-CAM) and
``anomgrad convert`` (track files between anomgrad's and andi-datasets' formats)."""

from __future__ import annotations

import os

from ..io.convert import READ_FORMATS, WRITE_FORMATS
from ._common import AMP, DEVICE, QUIET, float_arg, int_arg, keep_freed_memory, say

READING = dict(fmt=None, dim=None, ref=None, id_col=None, frame_col=None, x_col=None,
               y_col=None, truth_col=None)


def _reading_options(p) -> None:
    p.add_argument("--format", dest="fmt", choices=READ_FORMATS + ("dataset",), default=None,
                   help="input format (default: from the file)")
    p.add_argument("--dim", type=int_arg, default=None,
                   help="spatial dimensions: of andi-datasets arrays (they do not record it, so "
                        "give it unless the row length fits one dimension alone) and task files "
                        "(default 2); of a tracking table with a varying z column: 3 reads x, "
                        "y, z, 2 only x, y")
    p.add_argument("--ref", default=None, action="append",
                   help="AnDi 2020 ref1.txt (exponents) and/or ref2.txt (models) of a task "
                        "file (give --ref twice: both say the true class; then classify "
                        "scores itself)")
    for c, what in (("id", "track id"), ("frame", "frame"), ("x", "x"), ("y", "y")):
        p.add_argument(f"--{c}-col", default=None,
                       help=f"column of the {what} (default: trackpy's or TrackMate's name)")
    p.add_argument("--truth", dest="truth_col", default=None, metavar="COL",
                   help="a column of a tracking table with each track's true class (a name "
                        "such as sub-FBM, or its label 0..7): classify then scores itself")


def _reading(args) -> dict:
    return {k: getattr(args, k) for k in READING}


def add_classify(sub) -> None:
    p = sub.add_parser(
        "classify", parents=[DEVICE, AMP, QUIET],
        help="classify your own tracks (tracking CSV, npy, andi-datasets, HDF5) with ResAnDi",
        description="Class probabilities of every track with the ResAnDi that ships with "
                    "anomgrad (or --model), and with --gradcam the Grad-CAM of every step "
                    "(target: the predicted class). Every input track is listed with its "
                    "status; tracks that cannot be classified (fewer than 10 positions, gaps, "
                    "duplicate frames, NaN, not 2-D) say why. Tracks longer than 1000 are "
                    "classified over windows of 1000 (the track's answer: its first window's; "
                    "every window in windows.csv). Writes "
                    "classification.csv and classification.json (and gradcam.h5, tracks.png) "
                    "to --out.")
    p.add_argument("input", help="tracks: a CSV (trackpy/TrackMate/...), .npy/.npz, "
                                 "andi-datasets array or task file, anomgrad .h5")
    p.add_argument("--out", default=None, help="output directory (default: INPUT-classified)")
    p.add_argument("--model", default=None,
                   help="robust (default: the shipped model trained under localization "
                        "noise), clean (the shipped model trained on noiseless tracks, the "
                        "paper's setting) or a checkpoint file")
    p.add_argument("--gradcam", action="store_true", help="also write gradcam.h5")
    p.add_argument("--figure", action="store_true",
                   help="draw tracks coloured by Grad-CAM with their probabilities (tracks.png)")
    p.add_argument("--figure-tracks", default=None, metavar="ID,...",
                   help="the tracks to draw (default: the --figure-n most and least confident)")
    p.add_argument("--figure-n", type=int_arg, default=4, metavar="N",
                   help="most and least confident tracks to draw (default 4 each)")
    p.add_argument("--batch-size", type=int_arg, default=512)
    p.add_argument("--chunk", type=int_arg, default=None, metavar="N",
                   help="tracks read, classified and written at once (default 5000): memory "
                        "stays bounded by the chunk, whatever the size of the input")
    p.add_argument("--gaps", choices=("refuse", "split"), default="refuse",
                   help="tracks with missing frames: refuse (listed as missing_frames, the "
                        "default) or split (each piece between gaps classified on its own, "
                        "named ID[first-last])")
    p.add_argument("--pixel-size", type=float_arg, default=None, metavar="UM",
                   help="micrometres per unit of the positions (e.g. per pixel): the diffusion "
                        "coefficient K of every track in um^2/s^alpha (default: input units)")
    p.add_argument("--frame-interval", type=float_arg, default=None, metavar="S",
                   help="seconds between frames (default: K per frame)")
    _reading_options(p)
    p.set_defaults(func=run_classify)


def run_classify(args) -> int:
    from ..tracks import outputs  # lazy: h5py, matplotlib
    from ..tracks.classify import CHUNK_TRACKS, classify_chunks  # lazy: torch
    from ..resandi.calibration import UNCERTAIN_BELOW  # lazy: with classify (keeps --help fast)

    if (args.figure_tracks or args.figure_n != 4) and not args.figure:
        raise ValueError("argument --figure-tracks/--figure-n: draw with --figure")
    if args.figure_n < 1:
        raise ValueError(f"argument --figure-n: must be >= 1, got {args.figure_n}")
    if args.chunk is not None and args.chunk < 1:
        raise ValueError(f"argument --chunk: must be >= 1, got {args.chunk}")
    out = args.out or os.path.splitext(os.path.abspath(args.input))[0] + "-classified"
    keep_freed_memory()
    run = classify_chunks(args.input, chunk_tracks=args.chunk or CHUNK_TRACKS,
                          model=args.model, gradcam=args.gradcam or args.figure,
                          device=args.device, amp=args.amp, batch_size=args.batch_size,
                          progress=not args.quiet, pixel_size=args.pixel_size,
                          frame_interval=args.frame_interval, gaps=args.gaps, **_reading(args))
    ids = [t.strip() for t in args.figure_tracks.split(",")] if args.figure_tracks else None
    messages = []
    with outputs.Writer(out, os.path.abspath(args.input), gradcam=args.gradcam,
                        figure=args.figure, figure_ids=ids, figure_n=args.figure_n) as w:
        for res in run:
            w.add(res)
            messages += [m for m in res.message if m][:10 - len(messages)]
        written = w.close(run.notes)
    s = w.summary
    counts = ", ".join(f"{v} {k}" for k, v in s["status_counts"].items())
    say(args, f"{s['n']} tracks ({counts}); " + "; ".join(run.notes + [""]) +
        f"written: {', '.join(os.path.basename(p) for p in written)} in {out}")
    if s["classified"]:
        say(args, f"{s['uncertain']['n']} of {s['classified']} classified tracks flagged "
                  f"uncertain (top probability below {UNCERTAIN_BELOW}: column 'uncertain')")
    ev = s["evaluation"]
    if ev:
        parts = ([f"accuracy {100 * ev['accuracy']:.2f} % on {ev['n_known']} tracks of known "
                  f"class"] if "accuracy" in ev else [])
        parts += [f"{k.replace('_mae', '')} MAE {ev[k]:.3f}" for k in ("alpha_mae", "alpha_msd_mae")
                  if k in ev]
        say(args, "against the input's truth: " + ", ".join(parts))
    for m in messages:
        say(args, f"  {m}")
    return 0


def add_convert(sub) -> None:
    p = sub.add_parser(
        "convert", parents=[QUIET], help="convert track files (anomgrad <-> andi-datasets)",
        description="Read tracks in one format and write them in another: anomgrad tracks "
                    "files (.h5), andi-datasets create_dataset arrays (.npy or text: [model, "
                    "alpha, x..., y...] rows), AnDi 2020 challenge task files (with ref1/ref2) "
                    "and tracking CSVs. The class labels map to andi-datasets' model numbers "
                    "(docs/resandi.md). A round trip keeps every number.")
    p.add_argument("input", help="the file to read")
    p.add_argument("--to", required=True,
                   help=f"output file (format from its extension), or a format "
                        f"({', '.join(WRITE_FORMATS)}, 'andi') with --out")
    p.add_argument("--out", default=None, help="output file when --to names a format")
    _reading_options(p)
    p.set_defaults(func=run_convert)


def run_convert(args) -> int:
    from ..tracks.inputs import as_tracks  # lazy: h5py, pandas (not torch)
    from ..io.convert import save_tracks  # lazy: keeps --help fast

    if args.to in WRITE_FORMATS:
        if not args.out:
            raise ValueError(f"argument --out: --to {args.to} names a format; give the output "
                             f"file with --out")
        fmt, path = args.to, args.out
    else:
        if args.out:
            raise ValueError(f"argument --to: {args.to!r} is not a format ("
                             f"{', '.join(WRITE_FORMATS)}); with --out give a format")
        fmt, path = None, args.to
    tracks, notes, _ = as_tracks(args.input, **_reading(args))
    written = save_tracks(path, tracks, fmt)
    say(args, f"{len(tracks)} tracks from {args.input} -> {', '.join(written)}"
              + "".join(f"; {n}" for n in notes))
    return 0


__all__ = ["add_classify", "add_convert"]
