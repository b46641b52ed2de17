"""``anomgrad classify`` on the file of a real experiment (issue 20, item 9): a
trackpy-style CSV of ``--tracks`` tracks of ``--frames`` frames, rows in frame order as
``trackpy.link`` writes them (every particle of frame 0, then of frame 1, ...), with
trackpy's index column and its ``y, x, frame, particle`` columns; ``--by-track`` writes
the rows track after track instead, and ``--trackmate`` writes TrackMate's spots table
(its four header rows, the units row saying micron and sec; positions in micrometres
with a pixel of 0.108 um, a frame every 0.05 s; rows by track).  The tracks are the 8
classes' models at the shipped model's alphas, in pixel-like units.

    python bench/experiment_csv.py make --out /tmp/exp.csv            # 20,000 x 200: ~100 MB
    python bench/experiment_csv.py run /tmp/exp.csv --out /tmp/exp-classified

``run`` times ``anomgrad classify`` in a child process (end to end: start-up, reading,
checks, the network, the outputs) and reports its wall time and peak memory (max RSS)
as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


PIXEL_UM, FRAME_S = 0.108, 0.05  # the --trackmate file's calibration


def make(path: str, n: int, T: int, by_track: bool, seed: int = 0,
         trackmate: bool = False) -> None:
    import anomgrad as ag
    from anomgrad.resandi.task import CLASS_ALPHA, CLASS_MODELS

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, len(CLASS_MODELS), n)
    x = np.empty((n, 2, T), np.float32)
    for c, (model, (lo, hi)) in enumerate(zip(CLASS_MODELS, CLASS_ALPHA)):
        k = np.flatnonzero(cls == c)
        if len(k):
            alpha = None if model == "bm" else rng.uniform(lo, hi, len(k))
            x[k] = ag.generate(model, len(k), T, alpha, dim=2, seed=seed + 1 + c)
    x = 256 + 0.5 * x  # pixels, around the middle of a 512 x 512 camera
    if trackmate:
        return _trackmate(path, x)
    pid, frame = np.meshgrid(np.arange(n), np.arange(T), indexing="ij")
    if not by_track:  # trackpy: frame-major
        x, pid, frame = x.transpose(2, 0, 1), pid.T, frame.T
        xy = x.reshape(-1, 2)
    else:
        xy = x.transpose(0, 2, 1).reshape(-1, 2)
    table = np.column_stack([np.arange(n * T), xy[:, 1], xy[:, 0], frame.ravel(), pid.ravel()])
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(",y,x,frame,particle\n")
        np.savetxt(f, table, fmt=["%d", "%.3f", "%.3f", "%d", "%d"], delimiter=",")
    os.replace(tmp, path)


def _trackmate(path: str, x: np.ndarray) -> None:
    n, _, T = x.shape
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write("LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\n"
                "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\n"
                "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\n"
                ",,,(quality),(micron),(micron),(micron),(sec),\n")
        spot = np.arange(n * T)
        frame = np.tile(np.arange(T), n)
        table = np.column_stack([spot, spot, np.repeat(np.arange(n), T), np.full(n * T, 50.0),
                                 PIXEL_UM * x[:, 0].ravel(), PIXEL_UM * x[:, 1].ravel(),
                                 np.zeros(n * T), FRAME_S * frame, frame])
        np.savetxt(f, table, fmt=["ID%d", "%d", "%d", "%.1f", "%.4f", "%.4f", "%.1f", "%.2f",
                                  "%d"], delimiter=",")
    os.replace(tmp, path)


def run(path: str, out: str, extra: list[str], device: str = "cpu") -> dict:
    cmd = [sys.executable, "-m", "anomgrad.cli", "classify", path, "--out", out, "--quiet",
           "--device", device, *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB
    with open(os.path.join(out, "classification.json")) as f:
        n = json.load(f)["classified"]
    return {"file": path, "file_mb": round(os.path.getsize(path) / 1e6, 1), "wall_s":
            round(wall, 2), "max_rss_mib": round(rss), "classified": n,
            "tracks_per_s": round(n / wall), "command": " ".join(cmd[1:])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--tracks", type=int, default=20000)
    m.add_argument("--frames", type=int, default=200)
    m.add_argument("--by-track", action="store_true")
    m.add_argument("--trackmate", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("csv")
    r.add_argument("--out", required=True)
    a, extra = p.parse_known_args(argv)
    if a.cmd == "make":
        make(a.out, a.tracks, a.frames, a.by_track, trackmate=a.trackmate)
        print(f"{a.out}: {os.path.getsize(a.out) / 1e6:.1f} MB")
    else:
        print(json.dumps(run(a.csv, a.out, extra), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
