"""``anomgrad generate``: trajectories into a self-describing, resumable HDF5 file.

Trajectories are generated and written in chunks of ``--chunk`` rows (default:
``anomgrad.config.CLI_CHUNK_BYTES`` of output per chunk), so memory stays bounded
whatever ``--n``; the file logic (``OUT.partial``, resume, refusals) is
:func:`anomgrad.io.trajectories.write`.  ``--alpha-range LO HI`` draws one alpha per
trajectory from (seed, trajectory index) (:func:`anomgrad.generate.range_alphas`).
"""

from __future__ import annotations

import json
import os
import shlex

import numpy as np

from .. import _validate as V
from .. import phenom
from ..config import CLI_CHUNK_BYTES, MODELS, PHENOM_LABELS, PHENOM_MODELS
from ..generate import check_alpha_range
from ..io import trajectories
from ..io.atomic import atomic_savefig
from ._common import OVERWRITE, QUIET, RESUMES, SEED, CLIError, checked, float_arg, int_arg, say
def add(sub) -> None:
    p = sub.add_parser(
        "generate", help="generate trajectories into an HDF5 file", parents=[SEED, OVERWRITE, QUIET],
        description="Generate anomalous-diffusion trajectories into a self-describing, "
                    "resumable HDF5 file (dataset x of shape (n, dim, T), per-row alpha, "
                    "and the generation arguments as attributes).",
        epilog="If interrupted, run the same command again to resume from OUT.partial.")
    p.add_argument("--model", required=True,
                   help=f"one of {', '.join(MODELS)}, or an AnDi 2 state model "
                        f"({', '.join(PHENOM_MODELS)}: positions and labels per frame)")
    p.add_argument("--n", required=True, type=int_arg, help="number of trajectories")
    p.add_argument("--T", required=True, type=int_arg, help="positions per trajectory (>= 2)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--alpha", type=float_arg, help="anomalous exponent for all trajectories")
    g.add_argument("--alpha-range", nargs=2, type=float_arg, metavar=("LO", "HI"),
                   help="one alpha per trajectory, uniform in (LO, HI), reproducible from "
                        "(seed, trajectory index)")
    p.add_argument("--params", default=None, metavar="JSON",
                   help="a state model's parameters as a JSON object with andi-datasets' "
                        "names, e.g. '{\"M\": [[0.9, 0.1], [0.1, 0.9]], \"alphas\": [[1, 0], "
                        "[0.5, 0.01]], \"Ds\": [[1, 0], [0.1, 0]], \"L\": 100}' (or @FILE.json; "
                        "docs/phenom.md)")
    p.add_argument("--figure", action="store_true",
                   help="state models: also draw the first track with its labels per frame "
                        "(OUT without .h5, + -track0.png)")
    p.add_argument("--dim", type=int_arg, default=2, help="1, 2 or 3 (default 2)")
    p.add_argument("--start", type=int_arg, default=0,
                   help="index of the first trajectory (default 0): row r is trajectory "
                        "start + r")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="stored precision (default float32)")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--chunk", type=int_arg, default=None,
                   help="trajectories per chunk (default: about CLI_CHUNK_BYTES of output)")
    p.set_defaults(func=run, on_interrupt=RESUMES + " from OUT.partial")


def _model_params(args, model):
    """A state model's ``--params`` as a dict, checked by the model's own checks."""
    if model not in PHENOM_MODELS:
        if args.params is not None:
            raise CLIError(f"argument --params: for the state models ({', '.join(PHENOM_MODELS)}); "
                           f"{model} takes --alpha or --alpha-range")
        return None
    if args.alpha is not None or args.alpha_range is not None:
        raise CLIError(f"argument --alpha: {model} takes its exponents in --params "
                       f"('alphas': [mean, variance] per state)")
    text = args.params or "{}"
    try:
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        got = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise CLIError(f"argument --params: not a JSON object ({e})") from None
    if not isinstance(got, dict):
        raise CLIError(f"argument --params: a JSON object of parameters, got {got!r}")
    checked("--params", phenom.parameters, model, got)
    return got


def _params(args):
    """The checked generation parameters and the chunk size."""
    model = checked("--model", V.check_model, args.model, MODELS + PHENOM_MODELS)
    model_params = _model_params(args, model)
    n = checked("--n", V.check_int, "n", args.n, 1)
    T = checked("--T", V.check_int, "T", args.T, 2, 2**32)
    dim = checked("--dim", V.check_dim, args.dim)
    seed = checked("--seed", V.check_seed, args.seed)
    start = checked("--start", V.check_start, args.start, n)
    dtype = np.dtype(args.dtype)
    alpha = alpha_range = None
    if args.alpha_range is not None:
        alpha_range = checked("--alpha-range", check_alpha_range, model, *args.alpha_range)
    elif args.alpha is not None:
        alpha = float(checked("--alpha", V.check_alpha, model, args.alpha, 1)[0])
    elif model != "bm" and model_params is None:
        raise CLIError(f"argument --alpha: --alpha or --alpha-range is required for {model} "
                       f"(valid alpha: {V.alpha_range_text(model)})")
    params = trajectories.generation_params(model, n, T, dim, seed, start, dtype, alpha,
                                            alpha_range, model_params)
    if args.chunk is None:
        chunk = max(1, CLI_CHUNK_BYTES // trajectories.row_bytes(params))
    else:
        chunk = checked("--chunk", V.check_int, "chunk", args.chunk, 1)
    group = 1
    if model == "dimerization":
        group = int({**phenom.DEFAULTS[model], **model_params}["N"])
    if n % group or start % group:  # dimerization: fields of N interacting particles
        raise CLIError(f"argument --n: dimerization makes fields of N = {group} particles "
                       f"together: --n and --start must be multiples of N, got {n} and "
                       f"{start}")
    return params, min(max(group, chunk // group * group), n)


def _figure(path: str, params: dict) -> str:
    """The first track of the file with its labels (``--figure``), as a PNG beside it."""
    from ..phenom.figure import track_figure  # lazy: matplotlib

    x, meta = trajectories.read_trajectories(path, rows=slice(0, 1))
    png = os.path.splitext(path)[0] + "-track0.png"
    atomic_savefig(track_figure(x, meta["labels"], 0, title=f"{params['model']}, track 0 "
                                f"(seed {params['seed']}, start {params['start']})"), png)
    return png


def run(args) -> int:
    params, chunk = _params(args)
    if args.figure and params["model"] not in PHENOM_MODELS:
        raise CLIError(f"argument --figure: draws a state model's labels "
                       f"({', '.join(PHENOM_MODELS)}), not {params['model']}")
    command = shlex.join(["anomgrad"] + list(args.argv))
    r = trajectories.write(args.out, params, chunk=chunk, overwrite=args.overwrite,
                           progress=not args.quiet, command=command,
                           say=lambda m: say(args, m))
    if r["status"] != "exists":
        out, n = r["path"], params["n"]
        shape = (n, params["dim"], params["T"])
        labels = (f" and labels {(n, len(PHENOM_LABELS), params['T'])}"
                  if params["model"] in PHENOM_MODELS else "")
        say(args, f"wrote {out}: {n} {params['model']} trajectories, x {shape}{labels} "
                  f"{params['dtype']}, {trajectories.fmt_bytes(os.path.getsize(out))}, in "
                  f"{r['seconds']:.1f} s")
    if args.figure:
        say(args, f"wrote {_figure(r['path'], params)}")
    return 0
