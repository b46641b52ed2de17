"""``anomgrad dataset``, ``train`` and ``evaluate``: the ResAnDi task (docs/resandi.md)."""

from __future__ import annotations

import argparse
import os
import shlex

from .. import _validate as V
from ..io.h5 import fmt_bytes
from ..resandi import datasets as D
from ..resandi.recipes import option_fields
from ._common import (AMP, ANY_FAMILY, DEVICE, OVERWRITE, QUIET, RESUMES, SEED, CLIError,
                      checked, float_arg, int_arg, say)


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
    p.set_defaults(func=run_dataset, on_interrupt=RESUMES + " from OUT.partial")


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
                    "warm-up/cosine, bf16 where the hardware has it. Options left out take the recipe's "
                    "value. Multi-GPU: torchrun --nproc_per_node N -m anomgrad.cli train ...",
        epilog="Weights, metrics and plots go to --out (last.pt, best.pt, metrics.csv, "
               "metrics.json, training.png). A killed run continues with --resume.")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="discard a previous run in --out")
    for f in option_fields():
        if f.name in ("seed", "device"):  # the shared options of SEED and DEVICE
            continue
        kw = dict(f.metadata["cli"])
        kw.setdefault("help", f.metadata["help"].replace("%", "%%"))
        if "bool" in str(f.type):
            kw["action"] = argparse.BooleanOptionalAction
        elif "type" not in kw:
            kw["type"] = float_arg if "float" in str(f.type) else (
                int_arg if "int" in str(f.type) or f.name == "classes" else str)
        if not kw.get("required"):
            kw["default"] = None  # the recipe's value
        p.add_argument("--" + f.name.replace("_", "-"), **kw)
    p.set_defaults(func=run_train, on_interrupt="run the same command with --resume to continue from the last epoch saved")


def run_train(args) -> int:
    from ..resandi.train import train  # lazy: torch

    options = {f.name: getattr(args, f.name) for f in option_fields()
               if getattr(args, f.name) is not None}
    r = train(args.out, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet,
              **options)
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
        "evaluate", parents=[DEVICE, ANY_FAMILY, AMP, QUIET], help="score a trained ResAnDi on a dataset file",
        description="Accuracy, macro-F1, confusion matrix (PNG, JSON) and accuracy against "
                    "alpha and T per class (PNG, CSV, JSON) of a checkpoint on a dataset file.")
    p.add_argument("checkpoint", help="best.pt / last.pt of anomgrad train")
    p.add_argument("data", help="dataset file of anomgrad dataset")
    p.add_argument("--out", default=None,
                   help="output directory (default: eval-<data name> next to the checkpoint)")
    p.add_argument("--batch-size", type=int_arg, default=512)
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
