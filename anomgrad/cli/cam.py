"""``anomgrad gradcam``: Grad-CAM over time of a dataset file through a checkpoint."""

from __future__ import annotations

import os

from ._common import AMP, DEVICE, QUIET, RESUMES, int_arg, say


def add_gradcam(sub) -> None:
    p = sub.add_parser(
        "gradcam", parents=[DEVICE, AMP, QUIET], help="Grad-CAM over time of a dataset file through a checkpoint",
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
    p.add_argument("--bands", type=int_arg, default=0,
                   help="also store the cell masks of N percentile bands (10: deciles)")
    p.add_argument("--figure", nargs="?", const=True, default=None,
                   help="draw Fig. 2-style pictures (PNG; default OUT with .png)")
    p.add_argument("--batch-size", type=int_arg, default=1024)
    p.set_defaults(func=run_gradcam, on_interrupt=RESUMES + " from OUT.partial")


def run_gradcam(args) -> int:
    from ..cam import run_file  # lazy: torch

    fig = args.figure
    if fig is True:
        fig = os.path.splitext(args.out)[0] + ".png"
    r = run_file(args.checkpoint, args.data, args.out, layer=args.layer, target=args.target,
                 relu=args.relu, upsample=args.upsample, normalize=args.normalize,
                 nbands=args.bands, batch_size=args.batch_size, device=args.device, amp=args.amp,
                 progress=not args.quiet, figure=fig)
    say(args, f"wrote {r['out']}: Grad-CAM at {r['layer']} of {r['n']} trajectories "
               f"({r['L']} cells -> {r['T']} steps)" + (f"; figure {fig}" if fig else ""))
    return 0
