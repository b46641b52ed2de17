"""``anomgrad reproduce``: the paper's whole chain in one resumable run.

Stages (:data:`STAGES`): datasets of both families, the varying-T and T = 1000
networks, evaluation, erasure, augmentation + noise, probes, relevance.  Each stage is
skipped when ``stages.json`` records it done and its outputs exist; an interrupted
stage continues (every stage is resumable on its own).  ``report.md``
(:mod:`.report`) puts every number beside the paper's.

Sizes and recipes come from a :class:`~.profiles.Profile`: ``quick`` is a CPU plumbing
check on tiny data with narrow networks (minutes); ``cpu`` measures every finding with
width-16 networks in about 3 hours on 2 cores; ``full`` is the paper at full size (a GPU
job; docs/experiments.md has the expected wall time); ``--recipe fast`` at full size uses
anomgrad's fast recipe.  Before the first stage, a short calibration plans the wall time
of every stage (:mod:`.plan`); the plan is printed and kept in ``stages.json``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import time

from .. import _validate as V
from ..io.atomic import atomic_copy, atomic_write_json, read_json
from ..resandi import datasets as D
from ..resandi import pretrained as P
from ..resandi.evaluate import evaluate
from ..resandi.train import train
from . import augment, noise, probes
from .common import AMP, hardware, say
from .erasure import erasure_experiment
from .plan import calibrate, describe, plan
from .profiles import STAGES, Profile, paths, profile, stage_outputs
from .relevance import relevance_experiment
from .report import write_report


@dataclasses.dataclass
class _Ctx:
    prof: Profile
    p: dict
    seed: int
    dev: object
    progress: bool


def _st_data(c: _Ctx) -> None:
    npc, seed, p = c.prof.n_per_class, c.seed, c.p
    for fam in ("varying", "fixed"):
        os.makedirs(os.path.join(p["out"], "data", fam), exist_ok=True)
        for k, f in enumerate(p[f"{fam}_train"]):
            D.write(f, fam, "train", npc.train, seed, file=k, progress=c.progress)
        D.write(p[f"{fam}_val"], fam, "val", npc.val, seed, progress=c.progress)
    D.write(p["varying_test"], "varying", "test", npc.test, seed, progress=c.progress)
    for k, f in enumerate(p["fixed_relevance"]):
        D.write(f, "fixed", "test", npc.test, seed, file=k, progress=c.progress)


def _take_shipped(run_dir: str) -> None:
    """The shipped "clean" model as the varying-T network: its weights copied to
    ``run_dir/best.pt`` (checked against their SHA-256) and a ``summary.json`` that says
    where they come from."""
    src = P.weights_path("clean")
    os.makedirs(run_dir, exist_ok=True)
    atomic_copy(src, os.path.join(run_dir, "best.pt"))
    meta = P.pretrained(meta=True, name="clean")[1]
    sh = meta.get("shipped", {})
    atomic_write_json(os.path.join(run_dir, "summary.json"), {
        "stopped": "shipped", "source": "shipped", "model": "clean",
        "sha256": P.SHIPPED["clean"][1], "best_val_acc": meta.get("val_acc"),
        "total_steps": meta.get("step"), "command": sh.get("command"),
        "wall_seconds": sh.get("wall_seconds"), "hardware": sh.get("hardware")})


def _st_train(fam: str):
    def run(c: _Ctx) -> None:
        b = c.prof.base
        if fam == "varying" and b.varying_start == "shipped":
            _take_shipped(c.p[f"{fam}_run"])
            return
        data = None if b.fresh else c.p[f"{fam}_train"]
        kw = {k: getattr(b, k) for k in ("epochs", "epoch_samples", "batch_size", "lr",
                                         "minutes") if getattr(b, k) is not None}
        train(c.p[f"{fam}_run"], fam, b.recipe, data=data, val=c.p[f"{fam}_val"], seed=c.seed,
              width=b.width, device=str(c.dev), resume=True, progress=c.progress, **kw)
    return run


def _st_evaluate(c: _Ctx) -> None:
    """Both networks on their test files, and the shipped clean model on the same files
    (the reference the report holds the run's networks to)."""
    for fam in ("varying", "fixed"):
        # the shipped model learned varying T; T = 1000 tracks are within what it learned
        for ckpt, out, own in ((c.p[f"{fam}_ckpt"], c.p[f"{fam}_eval"], True),
                               (P.weights_path("clean"), c.p[f"{fam}_shipped_eval"], False)):
            if not os.path.exists(os.path.join(out, "metrics.json")):
                evaluate(ckpt, c.p[f"{fam}_test"], out=out, device=str(c.dev), amp=AMP,
                         check_family=own, progress=c.progress)


def _st_erasure(c: _Ctx) -> None:
    erasure_experiment(c.p["varying_ckpt"], c.p["varying_test"], c.p["erasure"],
                       n=c.prof.erasure.n, seed=c.seed, device=str(c.dev), progress=c.progress)


def _st_augment(c: _Ctx) -> None:
    a, p = c.prof.augment, c.p
    augment.run(p["augment"], models=a.models, train=p["varying_train"][0],
                val=p["varying_val"], test=p["varying_test"], base=p["varying_ckpt"],
                sigmas=noise.GRIDS[a.noise_grid], seed=c.seed, recipe=a.recipe, width=a.width,
                epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, test_rows=a.test_rows,
                device=str(c.dev), progress=c.progress)


def _st_probes(c: _Ctx) -> None:
    probes.run(c.p["fixed_ckpt"], c.p["probes"], train=c.p["fixed_train"],
               test=c.p["fixed_test"], seed=c.seed, epochs=c.prof.probes.epochs,
               tsne_points=c.prof.probes.tsne_points, device=str(c.dev), progress=c.progress)


def _st_relevance(c: _Ctx) -> None:
    relevance_experiment(c.p["fixed_ckpt"], c.p["fixed_relevance"], c.p["relevance"],
                         device=str(c.dev), progress=c.progress)


STAGE_FUNCTIONS = {"data": _st_data, "train_varying": _st_train("varying"),
                   "train_fixed": _st_train("fixed"), "evaluate": _st_evaluate,
                   "erasure": _st_erasure, "augment": _st_augment, "probes": _st_probes,
                   "relevance": _st_relevance}


def _open_run(out: str, prof: Profile, seed: int, dev, progress: bool) -> dict:
    """Check ``out`` holds nothing else (profile.json), and the run's state."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out: {out} exists and is not a directory")
    os.makedirs(out, exist_ok=True)
    ident = {"profile": dataclasses.asdict(prof), "seed": seed}
    pj = os.path.join(out, "profile.json")
    have = read_json(pj)
    if have is not None and have != json.loads(json.dumps(ident)):
        what = "a quick run" if have.get("profile", {}).get("label") == "quick" else "a run"
        raise ValueError(f"out: {out} holds {what} with other settings (profile.json: seed "
                         f"{have.get('seed')}, profile {have.get('profile', {}).get('label')}); "
                         f"use another --out, or the same settings to continue it")
    if have is None:
        atomic_write_json(pj, ident)
    if prof.label.startswith("full") and dev.type == "cpu":
        say(progress, "reproduce: full size on a CPU takes weeks; it is meant for a GPU "
                      "(see docs/experiments.md). Continuing anyway.")
    state = read_json(os.path.join(out, "stages.json")) or {"stages": {}}
    state["hardware"] = hardware()
    state["device"] = str(dev)
    state.setdefault("calls", []).append({
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(dev)})
    return state


def _plan(state: dict, prof: Profile, c: _Ctx, progress: bool) -> None:
    """Calibrate and plan the stages still to run (once per call), print the plan."""
    todo = [s for s in STAGES if state["stages"].get(s, {}).get("status") != "done"]
    if not todo:
        return
    t = time.perf_counter()
    rates = calibrate(prof, c.dev)
    took = time.perf_counter() - t
    planned = {s: round(v, 1) for s, v in plan(prof, rates).items() if s in todo}
    state["calls"][-1]["plan"] = {"rates": {k: round(v, 1) for k, v in rates.items()},
                                  "seconds": planned, "calibration_seconds": round(took, 1)}
    say(progress, f"reproduce: planned wall time per stage on {c.dev} (an estimate from a "
                  f"{took:.0f} s calibration):\n{describe(planned)}")


def reproduce(out, *, quick: bool = False, seed: int = 0, device=None,
              recipe: str | None = None, overrides: dict | None = None,
              progress: bool = True, profile_name: str | None = None,
              varying_start: str | None = None) -> dict:
    """Run the paper's chain into ``out`` (module docstring) with the profile ``profile_name``
    ("quick", "cpu" or "full"; ``quick=True`` is "quick"); returns the state
    (``out/stages.json``) and writes ``out/report.md``.  ``varying_start="shipped"`` (the
    cpu profile) takes the shipped "clean" model as the varying-T network instead of
    training one (an hour less on 2 cores; the report says so)."""
    seed = V.check_seed(seed)
    prof = profile(quick, overrides, recipe, profile_name, varying_start)
    out = os.fspath(out)
    dev = V.torch_device(device)
    state = _open_run(out, prof, seed, dev, progress)
    sp = os.path.join(out, "stages.json")
    c = _Ctx(prof, paths(out, prof), seed, dev, progress)
    _plan(state, prof, c, progress)
    t_call = time.perf_counter()
    ran = []
    for name in STAGES:
        rec = state["stages"].get(name)
        if (rec and rec.get("status") == "done"
                and all(os.path.exists(f) for f in stage_outputs(name, c.p))):
            say(progress, f"reproduce: {name} complete, skipped")
            continue
        say(progress, f"reproduce: stage {name}")
        t = time.perf_counter()
        resumed = bool(rec) and rec.get("status") == "running"
        state["stages"][name] = {"status": "running"}
        atomic_write_json(sp, state)
        STAGE_FUNCTIONS[name](c)
        planned = state["calls"][-1].get("plan", {}).get("seconds", {}).get(name)
        state["stages"][name] = {
            "status": "done", "seconds": round(time.perf_counter() - t, 3), "resumed": resumed,
            "planned_seconds": planned,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device": str(dev)}
        ran.append(name)
        atomic_write_json(sp, state)
    state["calls"][-1]["seconds"] = round(time.perf_counter() - t_call, 3)
    state["calls"][-1]["stages_run"] = ran
    atomic_write_json(sp, state)
    write_report(out, prof, seed, state)
    say(progress, f"reproduce: report written to {os.path.join(out, 'report.md')}")
    return state


__all__ = ["STAGE_FUNCTIONS", "reproduce"]
