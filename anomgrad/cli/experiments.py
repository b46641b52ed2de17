"""The paper's experiments (docs/experiments.md): ``anomgrad erasure``, ``augment``,
``probes``, ``relevance`` and ``reproduce``."""

from __future__ import annotations

import os

import numpy as np

from ..experiments.profiles import NAMES, VARYING_STARTS
from ._common import ANY_FAMILY, DEVICE, QUIET, RESUMES, SEED, float_arg, int_arg, say


def add_erasure(sub) -> None:
    p = sub.add_parser(
        "erasure", parents=[DEVICE, ANY_FAMILY, QUIET], help="targeted vs random erasure per Grad-CAM decile band (Fig. 3)",
        description="For every trajectory and decile band of its own layer-4 Grad-CAM "
                    "(signed, true label), erase the cells inside the band and score again; "
                    "the baseline erases as many cells at random. Writes erasure.json, "
                    "erasure.csv, erasure_per_class.csv and erasure.png (with the paper's "
                    "curves) to --out.",
        epilog="Resumable: chunks already scored are kept in OUT/chunks.")
    p.add_argument("checkpoint", help="best.pt of a varying-T model (the paper's)")
    p.add_argument("data", help="dataset file (the varying-T test file)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n", type=int_arg, default=None,
                   help="use the first ceil(N/8) trajectories of every class (default: all)")
    p.add_argument("--seed", type=int_arg, default=0, help="random baseline seed (default 0)")
    p.add_argument("--batch-size", type=int_arg, default=512)
    p.add_argument("--chunk", type=int_arg, default=8192, help="rows per resumable chunk")
    p.set_defaults(func=run_erasure)


def run_erasure(args) -> int:
    from ..experiments.erasure import erasure_experiment  # lazy: torch

    r = erasure_experiment(args.checkpoint, args.data, args.out, n=args.n, seed=args.seed,
                           batch_size=args.batch_size, chunk=args.chunk, device=args.device,
                           any_family=args.any_family, progress=not args.quiet)
    say(args, f"erasure of {r['n']} trajectories: band 0-10 {r['targeted'][0]:.2f}%, band "
               f"90-100 {r['targeted'][-1]:.2f}% (random {np.mean(r['random']):.2f}% on "
               f"average); written to {args.out}")
    return 0


def add_augment(sub) -> None:
    p = sub.add_parser(
        "augment", parents=[SEED, DEVICE, QUIET],
        help="targeted vs random rotation augmentation, noise sweep (Fig. 5)",
        description="Rank the training trajectories per class by mean Grad-CAM of a base "
                    "varying-T model; the top 60% get one copy rotated by U(0, 2 pi) "
                    "(targeted arm), or as many rows drawn at random per class (random arm); "
                    "train --models networks per arm and test them with localization noise "
                    "added to clean copies of the test set, at the paper's effective levels "
                    "sigma = 0, 0.1, 0.224, ..., 1.962 (its noise accumulated across the "
                    "nominal levels 0, 0.1, ..., 1.0; docs/method.md §7). Missing "
                    "--train/--val/--test files and --base are built in --out.",
        epilog="Resumable: every dataset, model and noise level already done is kept.")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--models", type=int_arg, default=5, help="networks per arm (default 5)")
    p.add_argument("--train", default=None,
                   help="varying-T training file to augment (default: built in OUT/data)")
    p.add_argument("--val", default=None, help="validation file (default: built)")
    p.add_argument("--test", default=None, help="varying-T test file (default: built)")
    p.add_argument("--base", default=None,
                   help="checkpoint of the varying-T model that ranks the trajectories "
                        "(default: trained in OUT/base)")
    p.add_argument("--n-per-class", type=int_arg, default=10000,
                   help="rows per class of the files built (default 10000)")
    p.add_argument("--base-files", type=int_arg, default=5,
                   help="training files built for the base model (default 5)")
    p.add_argument("--fraction", type=float_arg, default=0.6,
                   help="share of every class that gets a rotated copy (default 0.6)")
    p.add_argument("--noise-grid", choices=("effective", "nominal"), default="effective",
                   help="effective: the paper's levels as the noise it actually added "
                        "(default); nominal: 0, 0.1, ..., 1.0 on clean copies")
    p.add_argument("--sigmas", type=float_arg, nargs="+", default=None,
                   help="noise levels of your own (instead of --noise-grid)")
    p.add_argument("--recipe", choices=("paper", "fast"), default="paper",
                   help="training recipe of every network (default paper)")
    p.add_argument("--width", type=int_arg, default=64)
    p.add_argument("--epochs", type=int_arg, default=None)
    p.add_argument("--batch-size", type=int_arg, default=None)
    p.add_argument("--lr", type=float_arg, default=None)
    p.add_argument("--total-steps", type=int_arg, default=None)
    p.add_argument("--minutes", type=float_arg, default=None,
                   help="time budget per network")
    p.add_argument("--test-rows", type=int_arg, default=None,
                   help="use the first N test rows per class (default: all)")
    p.set_defaults(func=run_augment, on_interrupt=RESUMES + ": finished networks are kept")


def run_augment(args) -> int:
    from ..experiments import augment as A  # lazy: torch
    from ..experiments.noise import GRIDS  # lazy: torch

    r = A.run(args.out, models=args.models, train=args.train, val=args.val, test=args.test,
              base=args.base, n_per_class=args.n_per_class, base_files=args.base_files,
              fraction=args.fraction, sigmas=GRIDS[args.noise_grid] if args.sigmas is None else args.sigmas,
              seed=args.seed, recipe=args.recipe, width=args.width, epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, total_steps=args.total_steps,
              minutes=args.minutes, test_rows=args.test_rows, device=args.device,
              progress=not args.quiet)
    s = r["summary"]
    i = int(np.nanargmax(np.abs(s["difference"])))
    say(args, f"augment: {args.models} models per arm; largest difference targeted - random "
               f"{s['difference'][i]:+.2f} +- {s['difference_unc'][i]:.2f} points at sigma "
               f"{s['sigma'][i]:g}; written to {args.out}")
    return 0


def add_probes(sub) -> None:
    p = sub.add_parser(
        "probes", parents=[SEED, DEVICE, QUIET], help="layer-wise linear probes and t-SNE of a frozen network",
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
    p.add_argument("--n-per-class", type=int_arg, default=10000,
                   help="per class, when the sets are generated (default 10000)")
    p.add_argument("--epochs", type=int_arg, default=30)
    p.add_argument("--lr", type=float_arg, default=1e-4)
    p.add_argument("--batch-size", type=int_arg, default=1024)
    p.add_argument("--tsne-points", type=int_arg, default=5000,
                   help="held-out trajectories in the t-SNE figure (0: none)")
    p.add_argument("--any-family", action="store_true",
                   help="allow dataset files of the other family than the model's")
    p.set_defaults(func=run_probes)


def run_probes(args) -> int:
    from ..experiments import probes as P  # lazy: torch

    r = P.run(args.checkpoint, args.out, train=args.train, test=args.test,
              n_per_class=args.n_per_class, seed=args.seed, epochs=args.epochs, lr=args.lr,
              batch_size=args.batch_size, tsne_points=args.tsne_points, device=args.device,
              check_family=not args.any_family, progress=not args.quiet)
    say(args, "probes: " + ", ".join(f"block {t['block']} {t['accuracy']:.2f}% (paper "
                                      f"{t['paper']:.2f}%)" for t in r["table"])
         + f"; written to {args.out}")
    return 0


def add_relevance(sub) -> None:
    p = sub.add_parser(
        "relevance", parents=[DEVICE, QUIET], help="Grad-CAM against window statistics (AC, CS, SG, VD)",
        description="Correlate the raw layer-4 Grad-CAM cells (signed, true label) with the "
                    "statistics of the 32 windows of 225 steps, per class (Pearson and "
                    "Spearman), beside the paper's table. Writes relevance.json, "
                    "relevance.csv and relevance.png to --out.")
    p.add_argument("checkpoint", help="best.pt (the paper: the T = 1000 model)")
    p.add_argument("data", nargs="+", help="T = 1000 dataset file(s)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=int_arg, default=512)
    p.add_argument("--chunk", type=int_arg, default=8192)
    p.add_argument("--any-family", action="store_true",
                   help="allow varying-T files (windows then include padding)")
    p.set_defaults(func=run_relevance)


def run_relevance(args) -> int:
    from ..experiments.relevance import relevance_experiment  # lazy: torch

    r = relevance_experiment(args.checkpoint, args.data, args.out, batch_size=args.batch_size,
                             chunk=args.chunk, device=args.device, any_family=args.any_family,
                             progress=not args.quiet)
    say(args, f"relevance of {r['n']} trajectories: " + ", ".join(
        f"{x['name']} {x['statistic']} {x['pearson']:+.3f}" for x in r["largest"])
        + f"; written to {args.out}")
    return 0


def add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce", parents=[SEED, DEVICE, QUIET], help="the paper's whole chain, with a report beside the paper's numbers",
        description="Datasets of both families, the varying-T and T = 1000 networks, "
                    "evaluation, erasure, augmentation + noise, probes and relevance, each "
                    "stage skipped when complete; OUT/report.md puts every number beside the "
                    "paper's. --profile quick: tiny sizes and narrow networks on the CPU "
                    "(minutes; a plumbing check); cpu: every finding at width 16 in about 3 "
                    "hours on 2 cores; full (default): the paper's sizes and recipe (a GPU "
                    "job of many hours, see docs/experiments.md). A short calibration first "
                    "prints the planned wall time of every stage.",
        epilog="Run the same command again to continue an interrupted run.")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--profile", choices=NAMES, default=None,
                   help="sizes: quick (tiny, minutes: a plumbing check), cpu (width-16 "
                        "networks, every finding measured in about 3 hours on 2 cores) or "
                        "full (the paper's; default)")
    p.add_argument("--quick", action="store_true", help="the same as --profile quick")
    p.add_argument("--varying-start", choices=VARYING_STARTS, default=None,
                   help="--profile cpu: train the varying-T network (scratch, default) or take "
                        "the shipped 'clean' model, trained by the same recipe on a 2-core CPU "
                        "(shipped: an hour less; the report says so)")
    p.add_argument("--recipe", choices=("paper", "fast"), default=None,
                   help="full size only: paper (default, the published recipe) or fast "
                        "(anomgrad's fast recipe for every network; about an hour on one GPU)")
    p.set_defaults(func=run_reproduce, on_interrupt=RESUMES + ": finished stages are kept")


def run_reproduce(args) -> int:
    from ..experiments.pipeline import reproduce  # lazy: torch

    st = reproduce(args.out, quick=args.quick, seed=args.seed, device=args.device,
                   recipe=args.recipe, progress=not args.quiet, profile_name=args.profile,
                   varying_start=args.varying_start)
    name = "quick" if args.quick else args.profile
    total = sum(s.get("seconds", 0.0) for s in st["stages"].values())
    say(args, f"reproduce{f' --profile {name}' if name else ''}: all stages done ({total:.0f} s of "
               f"stage time); report: {os.path.join(args.out, 'report.md')}")
    return 0
