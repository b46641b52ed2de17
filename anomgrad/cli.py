"""The ``anomgrad`` command line.

Commands (one argparse subparser each; add a new one by writing ``_add_<name>(sub)``
that calls ``sub.add_parser`` and ``set_defaults(func=...)``, and listing it in
``COMMANDS``):

``anomgrad generate``
    Generate trajectories into a self-describing HDF5 file (layout: :mod:`anomgrad.io`)::

        anomgrad generate --model lw --n 1000000 --T 1000 --alpha 1.5 --seed 0 --out lw.h5

    Trajectories are generated and written in chunks of ``--chunk`` rows (default:
    ``anomgrad.config.CLI_CHUNK_BYTES`` of output per chunk), so memory stays bounded
    whatever ``--n``.  Output goes to ``OUT.partial`` and is renamed to ``OUT`` only
    when complete.  A run that is killed can be resumed by running the same command
    again: it continues from the rows recorded in ``OUT.partial`` and the final ``x``
    is byte-identical to an uninterrupted run (``--chunk`` may differ; it does not
    change the contents).  A complete ``OUT`` made with the same arguments is left
    as it is (exit 0).

``anomgrad dataset`` / ``anomgrad train`` / ``anomgrad evaluate``
    The ResAnDi task (docs/resandi.md): write the 8-class dataset files
    (:mod:`anomgrad.datasets`), train the network (:mod:`anomgrad.train`), score a
    checkpoint (:mod:`anomgrad.evaluate`)::

        anomgrad dataset --family varying --split test --out test.h5
        anomgrad train --family varying --recipe fast --out runs/varying
        anomgrad evaluate runs/varying/best.pt test.h5

``anomgrad erasure`` / ``augment`` / ``probes`` / ``relevance`` / ``reproduce``
    The paper's experiments (method.md §5; docs/experiments.md): Fig. 3 erasure,
    Fig. 5 augmentation + noise, layer-wise probes and t-SNE, Grad-CAM against window
    statistics, and the whole chain with a report beside the paper's numbers
    (:mod:`anomgrad.reproduce`, :mod:`anomgrad.augment`, :mod:`anomgrad.probes`)::

        anomgrad erasure runs/varying/best.pt test.h5 --out erasure/
        anomgrad reproduce --quick --out paper/

Per-trajectory alpha (``--alpha-range LO HI``)
    Row ``r`` is trajectory ``i = start + r``; its exponent is
    ``alpha_i = LO + (HI - LO) * U_i`` with ``U_i = (w + 0.5) / 2**32`` and ``w`` word 0
    of Philox stream ``ALPHA_RANGE_STREAM = 64`` of trajectory ``i`` under ``--seed``
    (``anomgrad.rng.uniforms(seed, i, 64, 1)``), so it depends only on ``(seed, i)``.
    Stream 64 is deliberately *not* one of the streams in :mod:`anomgrad.config`
    (0..49): the models draw their own per-trajectory parameters from stream 0 with the
    same seed and trajectory index, and alpha must be independent of them.
    ``U_i`` lies in (0, 1), so ``LO`` and ``HI`` may be the open ends of a model's range
    (e.g. ``--alpha-range 1 2`` for lw).

Exit status: 0 on success, 2 for a user error (bad argument, unusable file; the message
on stderr names the argument or path), 130 when interrupted.  Set ``ANOMGRAD_DEBUG=1``
to get the traceback instead of the one-line message.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import sys
import time

import numpy as np

from .config import STREAM_ALPHA as ALPHA_RANGE_STREAM  # noqa: E402  (64, docs/rng.md)
_TWO_M32 = 2.0**-32


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def range_alphas(seed: int, first: int, count: int, lo: float, hi: float) -> np.ndarray:
    """alpha of trajectories ``first .. first + count - 1`` for ``--alpha-range lo hi``."""
    from .rng import uniforms

    u = uniforms(seed, first, ALPHA_RANGE_STREAM, 1, count)[:, 0]
    return np.float64(lo) + (np.float64(hi) - np.float64(lo)) * u


def _range_extremes(lo: float, hi: float) -> np.ndarray:
    """Smallest and largest alpha ``range_alphas`` can give (the map is monotone)."""
    u = (np.array([0.0, 2.0**32 - 1.0]) + 0.5) * _TWO_M32
    return np.float64(lo) + (np.float64(hi) - np.float64(lo)) * u


# ---------------------------------------------------------------------------------
# Argument types


def _int_arg(text: str) -> int:
    """An integer: ``1000000``, ``1_000_000`` or ``1e6``."""
    s = text.strip().replace("_", "")
    try:
        return int(s)
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if not math.isfinite(v) or v != int(v) or "e" not in s.lower():
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")
    return int(v)


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None


def _checked(name: str, fn, *a):
    """Run a check from anomgrad._validate, naming the command-line argument on error."""
    try:
        return fn(*a)
    except (ValueError, TypeError) as e:
        raise CLIError(f"argument {name}: {e}") from None


# ---------------------------------------------------------------------------------
# generate


def _add_generate(sub) -> None:
    from .config import MODELS

    p = sub.add_parser(
        "generate", help="generate trajectories into an HDF5 file",
        description="Generate anomalous-diffusion trajectories into a self-describing, "
                    "resumable HDF5 file (dataset x of shape (n, dim, T), per-row alpha, "
                    "and the generation arguments as attributes).",
        epilog="If interrupted, run the same command again to resume from OUT.partial.")
    p.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    p.add_argument("--n", required=True, type=_int_arg, help="number of trajectories")
    p.add_argument("--T", required=True, type=_int_arg, help="positions per trajectory (>= 2)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--alpha", type=_float_arg, help="anomalous exponent for all trajectories")
    g.add_argument("--alpha-range", nargs=2, type=_float_arg, metavar=("LO", "HI"),
                   help="one alpha per trajectory, uniform in (LO, HI), reproducible from "
                        "(seed, trajectory index)")
    p.add_argument("--dim", type=_int_arg, default=2, help="1, 2 or 3 (default 2)")
    p.add_argument("--seed", type=_int_arg, default=0, help="integer in [0, 2**64) (default 0)")
    p.add_argument("--start", type=_int_arg, default=0,
                   help="index of the first trajectory (default 0): row r is trajectory "
                        "start + r")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="stored precision (default float32)")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--chunk", type=_int_arg, default=None,
                   help="trajectories per chunk (default: about CLI_CHUNK_BYTES of output)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUT (and discard OUT.partial) instead of "
                        "refusing or resuming")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=cmd_generate)


def _validate_generate(args):
    from . import _validate as V

    model = _checked("--model", V.check_model, args.model)
    n = _checked("--n", V.check_int, "n", args.n, 1)
    T = _checked("--T", V.check_int, "T", args.T, 2, 2**32)
    dim = _checked("--dim", V.check_dim, args.dim)
    seed = _checked("--seed", V.check_seed, args.seed)
    start = _checked("--start", V.check_int, "start", args.start, 0, 2**64 - 1)
    if start + n - 1 > 2**64 - 1:
        raise CLIError(f"argument --start: start + n must be <= 2**64 (trajectory indices "
                       f"are 64-bit), got start={start}, n={n}")
    dtype = np.dtype(args.dtype)
    alpha = alpha_range = None
    if args.alpha_range is not None:
        lo, hi = args.alpha_range
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise CLIError(f"argument --alpha-range: LO and HI must be finite, got {lo} {hi}")
        if not lo < hi:
            raise CLIError(f"argument --alpha-range: LO must be < HI, got {lo:g} {hi:g}")
        try:
            V.check_alpha(model, _range_extremes(lo, hi), 2)
        except ValueError:
            raise CLIError(f"argument --alpha-range: alpha drawn from ({lo:g}, {hi:g}) must "
                           f"lie in the valid range for {model}: "
                           f"{V.alpha_range_text(model)}") from None
        alpha_range = (lo, hi)
    elif args.alpha is not None:
        alpha = float(_checked("--alpha", V.check_alpha, model, args.alpha, 1)[0])
    elif model != "bm":
        raise CLIError(f"argument --alpha: --alpha or --alpha-range is required for {model} "
                       f"(valid alpha: {V.alpha_range_text(model)})")
    row_bytes = dim * T * dtype.itemsize
    if args.chunk is None:
        from .config import CLI_CHUNK_BYTES

        chunk = max(1, CLI_CHUNK_BYTES // row_bytes)
    else:
        chunk = _checked("--chunk", V.check_int, "chunk", args.chunk, 1)
    chunk = min(chunk, n)
    from . import io

    params = io.generation_params(model, n, T, dim, seed, start, dtype, alpha, alpha_range)
    return params, chunk, row_bytes


def _say(args, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def _fmt_bytes(b: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.2f} {unit}"
        b /= 1000.0
    return ""


def _diff(have: dict, want: dict) -> str:
    """``alpha: file 1.5, requested 1.6; ...`` for the parameters that differ."""
    def show(v):
        if isinstance(v, list):
            return " ".join(f"{a:g}" for a in v)
        if v is None:
            return "(not given)"
        return f"{v:g}" if isinstance(v, float) else str(v)

    keys = [k for k in want if have.get(k) != want[k]]
    return "; ".join(f"{'--' + k.replace('_', '-')}: file {show(have.get(k))}, requested "
                     f"{show(want[k])}" for k in keys)


def _check_space(path: str, total: int, remaining: int) -> None:
    """Refuse to start when the disk cannot hold the rest of ``path``.

    The file is sparse where the file system allows it (early allocation without
    fill): what still needs space is the full size less the blocks already allocated.
    """
    st = os.stat(path)
    blocks = getattr(st, "st_blocks", None)
    need = remaining if blocks is None else min(remaining, max(0, total - 512 * blocks))
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    if need > free:
        raise CLIError(f"not enough disk space for {path}: {_fmt_bytes(need)} more needed, "
                       f"{_fmt_bytes(free)} free; free some space and run the same command "
                       f"again to continue")


def cmd_generate(args) -> int:
    from . import __version__, io
    from .generate import generate

    params, chunk, row_bytes = _validate_generate(args)
    n = params["n"]
    out = os.fspath(args.out)
    partial = out + ".partial"
    want = io.params_json(params)
    outdir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(outdir):
        raise CLIError(f"argument --out: directory {outdir} does not exist")
    if os.path.isdir(out):
        raise CLIError(f"argument --out: {out} is a directory")

    # An existing OUT: done already, or refuse unless --overwrite.
    if os.path.lexists(out) and not args.overwrite:
        try:
            info = io.inspect(out)
        except io.FileFormatError as e:
            raise CLIError(f"{e}; refusing to replace it: delete it, choose another --out, "
                           f"or use --overwrite") from None
        if info["args"] != want:
            raise CLIError(f"{out} exists and was generated with different arguments "
                           f"({_diff(info['params'], params)}); use --overwrite to "
                           f"replace it or choose another --out")
        if not info["complete"]:
            raise CLIError(f"{out} exists but is incomplete ({info['rows_written']} of {n} "
                           f"rows); use --overwrite to regenerate it")
        _say(args, f"{out} is already complete ({io.describe_params(params)}); nothing to do")
        return 0

    # OUT.partial: resume it, or start over with --overwrite (never while it is locked:
    # another run is writing it).
    if os.path.lexists(partial):
        try:
            info = io.inspect(partial)
        except io.FileLockedError as e:
            raise CLIError(f"{e}; wait for that run to finish, or stop it first") from None
        except io.FileFormatError as e:
            if not args.overwrite:
                raise CLIError(f"{e}; {partial} is where an interrupted run's output is "
                               f"kept: delete it or use --overwrite") from None
            info = None
        if args.overwrite:
            os.remove(partial)
        elif info["args"] != want:
            raise CLIError(
                f"{partial} holds an interrupted run with different arguments "
                f"({_diff(info['params'], params)}; that run: "
                f"{io.describe_params(info['params'])}); rerun with its arguments "
                f"to finish it, or delete it / use --overwrite to start over")
    if not os.path.lexists(partial):
        command = shlex.join(["anomgrad"] + list(args.argv))
        extra = {"alpha_stream": np.int64(ALPHA_RANGE_STREAM)} if params["alpha_range"] else {}
        io.create(partial, params, command=command, version=__version__, extra_attrs=extra)

    t0 = time.perf_counter()
    with io.Writer(partial) as w:
        done = w.rows_done
        _check_space(partial, n * (row_bytes + 8), (n - done) * (row_bytes + 8))
        if done:
            _say(args, f"resuming {partial}: {done} of {n} trajectories already written")
        from tqdm import tqdm

        with tqdm(total=n, initial=done, unit="traj", unit_scale=True, disable=args.quiet,
                  desc=params["model"], file=sys.stderr, mininterval=0.5) as bar:
            seed, start, lo_hi = params["seed"], params["start"], params["alpha_range"]
            for r0 in range(done, n, chunk):
                m = min(chunk, n - r0)
                if lo_hi is not None:
                    alpha = range_alphas(seed, start + r0, m, lo_hi[0], lo_hi[1])
                else:
                    alpha = np.full(m, 1.0 if params["alpha"] is None else params["alpha"])
                x = generate(params["model"], m, params["T"], alpha, params["dim"], seed,
                             start=start + r0, dtype=params["dtype"])
                w.write(x, alpha)
                del x
                bar.update(m)
    io.finish(partial, out)
    dt = time.perf_counter() - t0
    shape = (n, params["dim"], params["T"])
    _say(args, f"wrote {out}: {n} {params['model']} trajectories, x {shape} {params['dtype']}, "
               f"{_fmt_bytes(os.path.getsize(out))}, in {dt:.1f} s")
    return 0



# ---------------------------------------------------------------------------------
# dataset


def _add_dataset(sub) -> None:
    p = sub.add_parser(
        "dataset", help="write a ResAnDi 8-class dataset file (method.md §3)",
        description="Write the 8-class ResAnDi dataset (sub-ATTM, sub-CTRW, sub-FBM, "
                    "sub-SBM, super-FBM, super-LW, super-SBM, BM; 2-D; preprocessed as in "
                    "method.md §3) to a resumable, self-describing HDF5 file. Layout and "
                    "seed scheme: anomgrad.datasets and docs/resandi.md.",
        epilog="If interrupted, run the same command again to resume from OUT.partial.")
    p.add_argument("--family", required=True, choices=("varying", "fixed"),
                   help="varying: T ~ U{10..1000} per trajectory; fixed: T = 1000")
    p.add_argument("--split", required=True, choices=("train", "val", "test"))
    p.add_argument("--out", required=True,
                   help="output file; with --files K > 1 a directory (files SPLIT_FILE.h5) "
                        "or a name containing {file}")
    p.add_argument("--n-per-class", type=_int_arg, default=10000,
                   help="trajectories per class and file (default 10000)")
    p.add_argument("--seed", type=_int_arg, default=0, help="integer in [0, 2**64) (default 0)")
    p.add_argument("--file", type=_int_arg, default=0,
                   help="number of the (first) file within the split (default 0); files "
                        "with different numbers hold different trajectories")
    p.add_argument("--files", type=_int_arg, default=1,
                   help="how many files to write (numbers FILE .. FILE+FILES-1; default 1)")
    p.add_argument("--classes", type=_int_arg, nargs="+", default=None,
                   help="only these labels (0..7; default all eight)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output (and discard OUT.partial)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=cmd_dataset)


def _dataset_paths(out: str, first: int, count: int, split: str) -> list[str]:
    if count == 1 and "{file}" not in out:
        return [out]
    if "{file}" in out:
        return [out.replace("{file}", str(k)) for k in range(first, first + count)]
    if out.endswith(".h5"):
        raise CLIError(f"argument --out: --files {count} writes {count} files: give a directory "
                       f"or a name containing {{file}} (e.g. train_{{file}}.h5)")
    os.makedirs(out, exist_ok=True)
    return [os.path.join(out, f"{split}_{k}.h5") for k in range(first, first + count)]


def cmd_dataset(args) -> int:
    from . import _validate as V
    from . import datasets as D

    files = _checked("--files", V.check_int, "files", args.files, 1, D.MAX_FILE + 1)
    first = _checked("--file", V.check_int, "file", args.file, 0, D.MAX_FILE)
    if first + files - 1 > D.MAX_FILE:
        raise CLIError(f"argument --files: file numbers must stay below 2**24, got "
                       f"{first}..{first + files - 1}")
    _checked("--n-per-class", V.check_int, "n_per_class", args.n_per_class, 1, D.MAX_PER_CLASS)
    _checked("--seed", V.check_seed, args.seed)
    _checked("--classes", D.check_classes, args.classes)
    paths = _dataset_paths(os.fspath(args.out), first, files, args.split)
    command = shlex.join(["anomgrad"] + list(args.argv))
    for k, path in zip(range(first, first + files), paths):
        r = D.write(path, args.family, args.split, args.n_per_class, args.seed, file=k,
                    classes=args.classes, overwrite=args.overwrite, progress=not args.quiet,
                    command=command)
        if r["status"] == "exists":
            _say(args, f"{path} is already complete; nothing to do")
        else:
            rate = r["n"] / r["seconds"] if r["seconds"] > 0 else float("inf")
            _say(args, f"wrote {path}: {r['n']} trajectories ({args.family}, {args.split}, "
                       f"file {k}), {_fmt_bytes(os.path.getsize(path))}, in "
                       f"{r['seconds']:.1f} s ({rate:,.0f} trajectories/s)")
    return 0


# ---------------------------------------------------------------------------------
# train


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train ResAnDi (recipes: fast, paper)",
        description="Train the ResAnDi network. --recipe paper: the published recipe on "
                    "dataset files (Adam 1e-4, StepLR(10, 0.5), batch 64, early stopping); "
                    "--recipe fast: fresh trajectories every step, batch 512, AdamW + "
                    "warm-up/cosine, bf16 on CUDA. Options left out take the recipe's "
                    "value. Multi-GPU: torchrun --nproc_per_node N -m anomgrad.cli train ...",
        epilog="Weights, metrics and plots go to --out (last.pt, best.pt, metrics.csv, "
               "metrics.json, training.png). A killed run continues with --resume.")
    p.add_argument("--family", required=True, choices=("varying", "fixed"))
    p.add_argument("--recipe", default="fast", choices=("fast", "paper"),
                   help="default fast")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--data", nargs="+", default=None,
                   help="train files (anomgrad dataset --split train); default for the fast "
                        "recipe: fresh trajectories")
    p.add_argument("--val", default=None,
                   help="validation file (default: generated, --val-per-class per class)")
    p.add_argument("--test", default=None, help="test file to evaluate best.pt on at the end")
    p.add_argument("--epochs", type=_int_arg, default=None)
    p.add_argument("--batch-size", type=_int_arg, default=None, help="global batch size")
    p.add_argument("--lr", type=_float_arg, default=None, help="(peak) learning rate")
    p.add_argument("--weight-decay", type=_float_arg, default=None)
    p.add_argument("--seed", type=_int_arg, default=0)
    p.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if "
                                                  "available)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="discard a previous run in --out")
    p.add_argument("--minutes", type=_float_arg, default=None,
                   help="time budget of the whole run; sets the number of steps")
    p.add_argument("--epoch-samples", type=_int_arg, default=None,
                   help="fresh trajectories per epoch (fast: 2**20)")
    p.add_argument("--total-steps", type=_int_arg, default=None,
                   help="optimizer steps in all (default epochs x steps per epoch)")
    p.add_argument("--val-per-class", type=_int_arg, default=None)
    p.add_argument("--workers", type=_int_arg, default=None,
                   help="DataLoader worker processes (default 0 on CPU, <= 8 on CUDA)")
    p.add_argument("--width", type=_int_arg, default=64,
                   help="network width (64 = ResAnDi; smaller only for quick tests)")
    p.add_argument("--classes", type=_int_arg, nargs="+", default=None,
                   help="train on these labels only (0..7)")
    p.add_argument("--amp", choices=("bf16", "none"), default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic kernels (default: on for CPU, off for CUDA)")
    p.add_argument("--patience", type=_int_arg, default=None)
    p.add_argument("--min-delta", type=_float_arg, default=None)
    p.add_argument("--warmup-steps", type=_int_arg, default=None)
    p.add_argument("--generator", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where fresh trajectories are generated (default auto)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from .train import train

    r = train(args.out, args.family, args.recipe, data=args.data, val=args.val, test=args.test,
              epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
              weight_decay=args.weight_decay, seed=args.seed, device=args.device,
              resume=args.resume, overwrite=args.overwrite, minutes=args.minutes,
              epoch_samples=args.epoch_samples, val_per_class=args.val_per_class,
              workers=args.workers, width=args.width, classes=args.classes, amp=args.amp,
              compile=args.compile, deterministic=args.deterministic, patience=args.patience,
              min_delta=args.min_delta, warmup_steps=args.warmup_steps,
              total_steps=args.total_steps, generator=args.generator, progress=not args.quiet)
    s = r["summary"]
    if r["config"].get("world_size", 1) == 1 or int(os.environ.get("RANK", "0")) == 0:
        acc = s.get("best_val_acc")
        msg = (f"{args.out}: {s['epochs_completed']} epochs ({r['stopped']}), best validation "
               f"loss {s['best_val_loss']:.4f} at epoch {s['best_epoch']}"
               if s["best_val_loss"] is not None else f"{args.out}: no epoch run")
        if acc is not None:
            msg += f" (accuracy {100 * acc:.2f}%)"
        if s.get("mean_samples_per_s"):
            msg += f", {s['mean_samples_per_s']:.0f} samples/s"
        if "test_accuracy" in s:
            msg += f"; test accuracy {100 * s['test_accuracy']:.2f}%"
        _say(args, msg)
    return 0


# ---------------------------------------------------------------------------------
# evaluate


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="score a trained ResAnDi on a dataset file",
        description="Accuracy, macro-F1, confusion matrix (PNG, JSON) and accuracy against "
                    "alpha and T per class (PNG, CSV, JSON) of a checkpoint on a dataset file.")
    p.add_argument("checkpoint", help="best.pt / last.pt of anomgrad train")
    p.add_argument("data", help="dataset file of anomgrad dataset")
    p.add_argument("--out", default=None,
                   help="output directory (default: eval-<data name> next to the checkpoint)")
    p.add_argument("--batch-size", type=_int_arg, default=512)
    p.add_argument("--device", default=None)
    p.add_argument("--any-family", action="store_true",
                   help="allow a dataset of the other family than the model's")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    out = args.out
    if out is None:
        stem = os.path.splitext(os.path.basename(args.data))[0]
        out = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"eval-{stem}")
    r = evaluate(args.checkpoint, args.data, out=out, batch_size=args.batch_size,
                 device=args.device, check_family=not args.any_family, amp=args.amp,
                 progress=not args.quiet)
    _say(args, f"{args.checkpoint} on {args.data}: accuracy {100 * r['accuracy']:.2f}%, "
               f"macro-F1 {100 * r['macro_f1']:.2f}% ({r['n']} trajectories); written to {out}")
    return 0

def _add_gradcam(sub) -> None:
    p = sub.add_parser(
        "gradcam", help="Grad-CAM over time of a dataset file through a checkpoint",
        description="Grad-CAM of every trajectory of a dataset file (HDF5 out: cam (n, T), "
                    "cells (n, L), target, pred, label, optional decile-band masks); "
                    "--figure also draws trajectories coloured by their Grad-CAM.")
    p.add_argument("checkpoint", help="best.pt / last.pt of anomgrad train")
    p.add_argument("data", help="dataset file of anomgrad dataset")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--layer", default="layer4", help="stem, maxpool, layer1..layer4 or a block "
                                                     "such as layer3.1 (default layer4)")
    p.add_argument("--target", default="true",
                   help="'true' (labels, the paper), 'predicted' or a class index")
    p.add_argument("--relu", action="store_true", help="ReLU maps (default: signed, the paper)")
    p.add_argument("--upsample", choices=("nearest", "linear"), default="nearest")
    p.add_argument("--normalize", action="store_true", help="min-max scale every map")
    p.add_argument("--bands", type=_int_arg, default=0,
                   help="also store the cell masks of N percentile bands (10: deciles)")
    p.add_argument("--figure", nargs="?", const=True, default=None,
                   help="draw Fig. 2-style pictures (PNG; default OUT with .png)")
    p.add_argument("--batch-size", type=_int_arg, default=1024)
    p.add_argument("--device", default=None)
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_gradcam)


def cmd_gradcam(args) -> int:
    from .cam import run_file

    fig = args.figure
    if fig is True:
        fig = os.path.splitext(args.out)[0] + ".png"
    r = run_file(args.checkpoint, args.data, args.out, layer=args.layer, target=args.target,
                 relu=args.relu, upsample=args.upsample, normalize=args.normalize,
                 nbands=args.bands, batch_size=args.batch_size, device=args.device, amp=args.amp,
                 progress=not args.quiet, figure=fig)
    _say(args, f"wrote {r['out']}: Grad-CAM at {r['layer']} of {r['n']} trajectories "
               f"({r['L']} cells -> {r['T']} steps)" + (f"; figure {fig}" if fig else ""))
    return 0


# ---------------------------------------------------------------------------------
# The paper's experiments (method.md §5): erasure, augment, probes, relevance, reproduce


def _add_erasure(sub) -> None:
    p = sub.add_parser(
        "erasure", help="targeted vs random erasure per Grad-CAM decile band (Fig. 3)",
        description="For every trajectory and decile band of its own layer-4 Grad-CAM "
                    "(signed, true label), erase the cells inside the band and score again; "
                    "the baseline erases as many cells at random. Writes erasure.json, "
                    "erasure.csv, erasure_per_class.csv and erasure.png (with the paper's "
                    "curves) to --out.",
        epilog="Resumable: chunks already scored are kept in OUT/chunks.")
    p.add_argument("checkpoint", help="best.pt of a varying-T model (the paper's)")
    p.add_argument("data", help="dataset file (the varying-T test file)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n", type=_int_arg, default=None,
                   help="use the first ceil(N/8) trajectories of every class (default: all)")
    p.add_argument("--seed", type=_int_arg, default=0, help="random baseline seed (default 0)")
    p.add_argument("--batch-size", type=_int_arg, default=512)
    p.add_argument("--chunk", type=_int_arg, default=8192, help="rows per resumable chunk")
    p.add_argument("--device", default=None)
    p.add_argument("--any-family", action="store_true",
                   help="allow a dataset of the other family than the model's")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_erasure)


def cmd_erasure(args) -> int:
    from .reproduce import erasure_experiment

    r = erasure_experiment(args.checkpoint, args.data, args.out, n=args.n, seed=args.seed,
                           batch_size=args.batch_size, chunk=args.chunk, device=args.device,
                           any_family=args.any_family, progress=not args.quiet)
    _say(args, f"erasure of {r['n']} trajectories: band 0-10 {r['targeted'][0]:.2f}%, band "
               f"90-100 {r['targeted'][-1]:.2f}% (random {np.mean(r['random']):.2f}% on "
               f"average); written to {args.out}")
    return 0


def _add_augment(sub) -> None:
    p = sub.add_parser(
        "augment", help="targeted vs random rotation augmentation, noise sweep (Fig. 5)",
        description="Rank the training trajectories per class by mean Grad-CAM of a base "
                    "varying-T model; the top 60% get one copy rotated by U(0, 2 pi) "
                    "(targeted arm), or as many rows drawn at random per class (random arm); "
                    "train --models networks per arm and test them with localization noise "
                    "sigma = 0, 0.1, ..., 1.0 added to clean copies of the test set. Missing "
                    "--train/--val/--test files and --base are built in --out.",
        epilog="Resumable: every dataset, model and noise level already done is kept.")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--models", type=_int_arg, default=5, help="networks per arm (default 5)")
    p.add_argument("--train", default=None,
                   help="varying-T training file to augment (default: built in OUT/data)")
    p.add_argument("--val", default=None, help="validation file (default: built)")
    p.add_argument("--test", default=None, help="varying-T test file (default: built)")
    p.add_argument("--base", default=None,
                   help="checkpoint of the varying-T model that ranks the trajectories "
                        "(default: trained in OUT/base)")
    p.add_argument("--n-per-class", type=_int_arg, default=10000,
                   help="rows per class of the files built (default 10000)")
    p.add_argument("--base-files", type=_int_arg, default=5,
                   help="training files built for the base model (default 5)")
    p.add_argument("--fraction", type=_float_arg, default=0.6,
                   help="share of every class that gets a rotated copy (default 0.6)")
    p.add_argument("--sigmas", type=_float_arg, nargs="+", default=None,
                   help="noise levels (default 0 0.1 ... 1.0)")
    p.add_argument("--seed", type=_int_arg, default=0)
    p.add_argument("--recipe", choices=("paper", "fast"), default="paper",
                   help="training recipe of every network (default paper)")
    p.add_argument("--width", type=_int_arg, default=64)
    p.add_argument("--epochs", type=_int_arg, default=None)
    p.add_argument("--batch-size", type=_int_arg, default=None)
    p.add_argument("--lr", type=_float_arg, default=None)
    p.add_argument("--total-steps", type=_int_arg, default=None)
    p.add_argument("--minutes", type=_float_arg, default=None,
                   help="time budget per network")
    p.add_argument("--test-rows", type=_int_arg, default=None,
                   help="use the first N test rows per class (default: all)")
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_augment)


def cmd_augment(args) -> int:
    from . import augment as A

    r = A.run(args.out, models=args.models, train=args.train, val=args.val, test=args.test,
              base=args.base, n_per_class=args.n_per_class, base_files=args.base_files,
              fraction=args.fraction, sigmas=A.SIGMAS if args.sigmas is None else args.sigmas,
              seed=args.seed, recipe=args.recipe, width=args.width, epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, total_steps=args.total_steps,
              minutes=args.minutes, test_rows=args.test_rows, device=args.device,
              progress=not args.quiet)
    s = r["summary"]
    i = int(np.nanargmax(np.abs(s["difference"])))
    _say(args, f"augment: {args.models} models per arm; largest difference targeted - random "
               f"{s['difference'][i]:+.2f} +- {s['difference_unc'][i]:.2f} points at sigma "
               f"{s['sigma'][i]:g}; written to {args.out}")
    return 0


def _add_probes(sub) -> None:
    p = sub.add_parser(
        "probes", help="layer-wise linear probes and t-SNE of a frozen network",
        description="Cut the frozen network after layer1/2/3, train a global-average-pool + "
                    "Linear head (Adam 1e-4, batch 1024) for the paper's 4-, 6- and 8-group "
                    "labelings on balanced sets, report held-out accuracy; t-SNE of pooled "
                    "features per block. Writes probes.json, probes.csv, tsne.png to --out.")
    p.add_argument("checkpoint", help="best.pt (the paper: the T = 1000 model)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--train", nargs="+", default=None,
                   help="dataset file(s) to train the probes on (default: generated)")
    p.add_argument("--test", nargs="+", default=None,
                   help="held-out dataset file(s) (default: generated test split)")
    p.add_argument("--n-per-class", type=_int_arg, default=10000,
                   help="per class, when the sets are generated (default 10000)")
    p.add_argument("--epochs", type=_int_arg, default=30)
    p.add_argument("--lr", type=_float_arg, default=1e-4)
    p.add_argument("--batch-size", type=_int_arg, default=1024)
    p.add_argument("--tsne-points", type=_int_arg, default=5000,
                   help="held-out trajectories in the t-SNE figure (0: none)")
    p.add_argument("--seed", type=_int_arg, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--any-family", action="store_true",
                   help="allow dataset files of the other family than the model's")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_probes)


def cmd_probes(args) -> int:
    from . import probes as P

    r = P.run(args.checkpoint, args.out, train=args.train, test=args.test,
              n_per_class=args.n_per_class, seed=args.seed, epochs=args.epochs, lr=args.lr,
              batch_size=args.batch_size, tsne_points=args.tsne_points, device=args.device,
              check_family=not args.any_family, progress=not args.quiet)
    _say(args, "probes: " + ", ".join(f"block {t['block']} {t['accuracy']:.2f}% (paper "
                                      f"{t['paper']:.2f}%)" for t in r["table"])
         + f"; written to {args.out}")
    return 0


def _add_relevance(sub) -> None:
    p = sub.add_parser(
        "relevance", help="Grad-CAM against window statistics (AC, CS, SG, VD)",
        description="Correlate the raw layer-4 Grad-CAM cells (signed, true label) with the "
                    "statistics of the 32 windows of 225 steps, per class (Pearson and "
                    "Spearman), beside the paper's table. Writes relevance.json, "
                    "relevance.csv and relevance.png to --out.")
    p.add_argument("checkpoint", help="best.pt (the paper: the T = 1000 model)")
    p.add_argument("data", nargs="+", help="T = 1000 dataset file(s)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=_int_arg, default=512)
    p.add_argument("--chunk", type=_int_arg, default=8192)
    p.add_argument("--device", default=None)
    p.add_argument("--any-family", action="store_true",
                   help="allow varying-T files (windows then include padding)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_relevance)


def cmd_relevance(args) -> int:
    from .reproduce import relevance_experiment

    r = relevance_experiment(args.checkpoint, args.data, args.out, batch_size=args.batch_size,
                             chunk=args.chunk, device=args.device, any_family=args.any_family,
                             progress=not args.quiet)
    _say(args, f"relevance of {r['n']} trajectories: " + ", ".join(
        f"{x['name']} {x['statistic']} {x['pearson']:+.3f}" for x in r["largest"])
        + f"; written to {args.out}")
    return 0


def _add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce", help="the paper's whole chain, with a report beside the paper's numbers",
        description="Datasets of both families, the varying-T and T = 1000 networks, "
                    "evaluation, erasure, augmentation + noise, probes and relevance, each "
                    "stage skipped when complete; OUT/report.md puts every number beside the "
                    "paper's. --quick: tiny sizes and narrow networks on the CPU (minutes; a "
                    "plumbing check). Without it: the paper's sizes and recipe (a GPU job of "
                    "many hours, see docs/experiments.md).",
        epilog="Run the same command again to continue an interrupted run.")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quick", action="store_true", help="tiny CPU run (plumbing check)")
    p.add_argument("--recipe", choices=("paper", "fast"), default=None,
                   help="full size only: paper (default, the published recipe) or fast "
                        "(anomgrad's fast recipe for every network; about an hour on one GPU)")
    p.add_argument("--seed", type=_int_arg, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    st = reproduce(args.out, quick=args.quick, seed=args.seed, device=args.device,
                   recipe=args.recipe, progress=not args.quiet)
    total = sum(s.get("seconds", 0.0) for s in st["stages"].values())
    _say(args, f"reproduce{' --quick' if args.quick else ''}: all stages done ({total:.0f} s of "
               f"stage time); report: {os.path.join(args.out, 'report.md')}")
    return 0


# ---------------------------------------------------------------------------------
# main

COMMANDS = (_add_generate, _add_dataset, _add_train, _add_evaluate, _add_gradcam, _add_erasure,
            _add_augment, _add_probes, _add_relevance, _add_reproduce)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="anomgrad",
        description="Anomalous-diffusion trajectories at speed, ResAnDi and Grad-CAM over time.")
    parser.add_argument("--version", action="version", version=f"anomgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``anomgrad`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, OSError) as e:
        if os.environ.get("ANOMGRAD_DEBUG"):
            raise
        print(f"anomgrad {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"anomgrad {args.command}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
