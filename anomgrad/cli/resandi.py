"""``anomgrad dataset``, ``train`` and ``evaluate``: the ResAnDi task (docs/resandi.md)."""

from __future__ import annotations

import argparse
import os
import shlex

from .. import _validate as V
from ..io.h5 import fmt_bytes
from ..resandi import datasets as D
from ._common import (ANY_FAMILY, DEVICE, OVERWRITE, QUIET, SEED, CLIError, checked, float_arg,
                      int_arg, say)


def add_dataset(sub) -> None:
    p = sub.add_parser(
        "dataset", parents=[SEED, OVERWRITE, QUIET], help="write a ResAnDi 8-class dataset file (docs/method.md §3)",
        description="Write the 8-class ResAnDi dataset (sub-ATTM, sub-CTRW, sub-FBM, "
                    "sub-SBM, super-FBM, super-LW, super-SBM, BM; 2-D; preprocessed as in "
                    "docs/method.md §3) to a resumable, self-describing HDF5 file. Layout and "
                    "seed scheme: anomgrad.resandi and docs/resandi.md.",
        epilog="If interrupted, run the same command again to resume from OUT.partial.")
    p.add_argument("--family", required=True, choices=("varying", "fixed"),
                   help="varying: T ~ U{10..1000} per trajectory; fixed: T = 1000")
    p.add_argument("--split", required=True, choices=("train", "val", "test"))
    p.add_argument("--out", required=True,
                   help="output file; with --files K > 1 a directory (files SPLIT_FILE.h5) "
                        "or a name containing {file}")
    p.add_argument("--n-per-class", type=int_arg, default=10000,
                   help="trajectories per class and file (default 10000)")
    p.add_argument("--file", type=int_arg, default=0,
                   help="number of the (first) file within the split (default 0); files "
                        "with different numbers hold different trajectories")
    p.add_argument("--files", type=int_arg, default=1,
                   help="how many files to write (numbers FILE .. FILE+FILES-1; default 1)")
    p.add_argument("--classes", type=int_arg, nargs="+", default=None,
                   help="only these labels (0..7; default all eight)")
    p.set_defaults(func=run_dataset)


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


def run_dataset(args) -> int:
    files = checked("--files", V.check_int, "files", args.files, 1, D.MAX_FILE + 1)
    first = checked("--file", V.check_int, "file", args.file, 0, D.MAX_FILE)
    if first + files - 1 > D.MAX_FILE:
        raise CLIError(f"argument --files: file numbers must stay below 2**24, got "
                       f"{first}..{first + files - 1}")
    checked("--n-per-class", V.check_int, "n_per_class", args.n_per_class, 1, D.MAX_PER_CLASS)
    checked("--seed", V.check_seed, args.seed)
    checked("--classes", D.check_classes, args.classes)
    paths = _dataset_paths(os.fspath(args.out), first, files, args.split)
    command = shlex.join(["anomgrad"] + list(args.argv))
    for k, path in zip(range(first, first + files), paths):
        r = D.write(path, args.family, args.split, args.n_per_class, args.seed, file=k,
                    classes=args.classes, overwrite=args.overwrite, progress=not args.quiet,
                    command=command)
        if r["status"] == "exists":
            say(args, f"{path} is already complete; nothing to do")
        else:
            rate = r["n"] / r["seconds"] if r["seconds"] > 0 else float("inf")
            say(args, f"wrote {path}: {r['n']} trajectories ({args.family}, {args.split}, "
                       f"file {k}), {fmt_bytes(os.path.getsize(path))}, in "
                       f"{r['seconds']:.1f} s ({rate:,.0f} trajectories/s)")
    return 0


def add_train(sub) -> None:
    p = sub.add_parser(
        "train", parents=[SEED, DEVICE, QUIET], help="train ResAnDi (recipes: fast, paper)",
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
    p.add_argument("--epochs", type=int_arg, default=None)
    p.add_argument("--batch-size", type=int_arg, default=None, help="global batch size")
    p.add_argument("--lr", type=float_arg, default=None, help="(peak) learning rate")
    p.add_argument("--weight-decay", type=float_arg, default=None)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="discard a previous run in --out")
    p.add_argument("--minutes", type=float_arg, default=None,
                   help="time budget of the whole run; sets the number of steps")
    p.add_argument("--epoch-samples", type=int_arg, default=None,
                   help="fresh trajectories per epoch (fast: 2**20)")
    p.add_argument("--total-steps", type=int_arg, default=None,
                   help="optimizer steps in all (default epochs x steps per epoch)")
    p.add_argument("--val-per-class", type=int_arg, default=None)
    p.add_argument("--workers", type=int_arg, default=None,
                   help="DataLoader worker processes (default 0 on CPU, <= 8 on CUDA)")
    p.add_argument("--width", type=int_arg, default=64,
                   help="network width (64 = ResAnDi; smaller only for quick tests)")
    p.add_argument("--classes", type=int_arg, nargs="+", default=None,
                   help="train on these labels only (0..7)")
    p.add_argument("--amp", choices=("auto", "bf16", "none"), default=None,
                   help="auto (default of the fast recipe): bf16 where the hardware has it")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic kernels (default: on for CPU, off for CUDA)")
    p.add_argument("--patience", type=int_arg, default=None)
    p.add_argument("--min-delta", type=float_arg, default=None)
    p.add_argument("--warmup-steps", type=int_arg, default=None)
    p.add_argument("--batch-order", choices=("files", "global"), default=None,
                   help="rows of --data files: files (in turn, shuffled within each: the "
                        "published order, paper default) or global (one permutation)")
    p.add_argument("--generator", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where fresh trajectories are generated (default auto)")
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    from ..resandi.train import train  # lazy: torch

    r = train(args.out, args.family, args.recipe, data=args.data, val=args.val, test=args.test,
              epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
              weight_decay=args.weight_decay, seed=args.seed, device=args.device,
              resume=args.resume, overwrite=args.overwrite, minutes=args.minutes,
              epoch_samples=args.epoch_samples, val_per_class=args.val_per_class,
              workers=args.workers, width=args.width, classes=args.classes, amp=args.amp,
              compile=args.compile, deterministic=args.deterministic, patience=args.patience,
              min_delta=args.min_delta, warmup_steps=args.warmup_steps,
              total_steps=args.total_steps, generator=args.generator,
              batch_order=args.batch_order, progress=not args.quiet)
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
        say(args, msg)
    return 0


def add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", parents=[DEVICE, ANY_FAMILY, QUIET], help="score a trained ResAnDi on a dataset file",
        description="Accuracy, macro-F1, confusion matrix (PNG, JSON) and accuracy against "
                    "alpha and T per class (PNG, CSV, JSON) of a checkpoint on a dataset file.")
    p.add_argument("checkpoint", help="best.pt / last.pt of anomgrad train")
    p.add_argument("data", help="dataset file of anomgrad dataset")
    p.add_argument("--out", default=None,
                   help="output directory (default: eval-<data name> next to the checkpoint)")
    p.add_argument("--batch-size", type=int_arg, default=512)
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    from ..resandi.evaluate import evaluate  # lazy: torch

    out = args.out
    if out is None:
        stem = os.path.splitext(os.path.basename(args.data))[0]
        out = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"eval-{stem}")
    r = evaluate(args.checkpoint, args.data, out=out, batch_size=args.batch_size,
                 device=args.device, check_family=not args.any_family, amp=args.amp,
                 progress=not args.quiet)
    say(args, f"{args.checkpoint} on {args.data}: accuracy {100 * r['accuracy']:.2f}%, "
               f"macro-F1 {100 * r['macro_f1']:.2f}% ({r['n']} trajectories); written to {out}")
    return 0
