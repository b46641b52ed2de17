"""Layer-wise linear probes and t-SNE of a frozen ResAnDi (docs/method.md §5, "Layer-wise").

The trained network (the paper: the T = 1000 model) is frozen and cut after block k; a
global-average-pool + Linear head is trained on top, for the paper's labelings:

====== ======== =====================================================================
block  layer    groups (paper's held-out accuracy)
====== ======== =====================================================================
1      layer1   {ATTM+CTRW}, {sub-FBM}, {super-FBM+LW}, {sub-SBM+super-SBM+BM} (89.44 %)
2      layer2   {sub-FBM}, {super-FBM}, {LW}, {ATTM}, {CTRW}, {sub-SBM+super-SBM+BM}
                (86.91 %)
3      layer3   the 8 classes (93.24 %)
====== ======== =====================================================================

Each grouped set (training and held-out separately) is balanced by undersampling every
group to the size of the smallest one (rows drawn uniformly without replacement inside
the group, so a merged group keeps its classes' natural mix).  The head is trained with
Adam (lr 1e-4), batch 1024, cross entropy, for a fixed number of epochs; the accuracy
is measured on the held-out set after the last epoch.

Because the network is frozen (eval mode: BatchNorm uses its running statistics) and the
pool has no parameters, training "pool + Linear" on the cut network is exactly training
a Linear layer on the pooled features; they are computed once (one forward pass per
row for all blocks) and cached.

t-SNE (``sklearn.manifold.TSNE``, 2-D, PCA initialisation, fixed random_state) of the
pooled features after layer1..layer4 of a class-balanced subsample of the held-out set,
coloured by the block's grouping (layer4: the 8 classes), as in the paper's figures.

The authors' code for the probes is not public (their t-SNE code is: global average
pool of the block outputs, ``TSNE(n_components=2)``); the number of epochs, the
held-out set (the test split) and the t-SNE subsample are our choices.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import _validate as V
from ..io.atomic import atomic_savefig, atomic_savez, atomic_write_csv, atomic_write_json
from ..resandi import datasets as D
from ..resandi.nn import load_checkpoint
from . import paper
from .common import check_checkpoint, rng, say

BLOCKS = {
    1: {"layer": "layer1", "groups": ((0, 1), (2,), (4, 5), (3, 6, 7)),
        "names": ("ATTM+CTRW", "sub-FBM", "super-FBM+LW", "SBM+BM"), "paper": paper.PROBES[1]},
    2: {"layer": "layer2", "groups": ((2,), (4,), (5,), (0,), (1,), (3, 6, 7)),
        "names": ("sub-FBM", "super-FBM", "LW", "ATTM", "CTRW", "SBM+BM"),
        "paper": paper.PROBES[2]},
    3: {"layer": "layer3", "groups": tuple((c,) for c in range(8)), "names": D.CLASS_NAMES,
        "paper": paper.PROBES[3]},
}

TSNE_LAYERS = ("layer1", "layer2", "layer3", "layer4")
FORMAT = "anomgrad-probes"



def group_labels(labels, groups) -> np.ndarray:
    """The group index of every label (int64); every label must be in exactly one group."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got {labels.shape} {labels.dtype}")
    members = [int(c) for g in groups for c in g]
    if len(set(members)) != len(members):
        raise ValueError(f"groups must be disjoint, got {groups}")
    lut = np.full(max(members + [int(labels.max()) if labels.size else 0]) + 1, -1, np.int64)
    for k, g in enumerate(groups):
        lut[list(g)] = k
    out = lut[labels] if labels.size else np.empty(0, np.int64)
    if labels.size and (labels.min() < 0 or (out < 0).any()):
        bad = sorted(set(labels[(labels < 0) | (out < 0)].tolist()))
        raise ValueError(f"labels {bad} belong to no group of {groups}")
    return out



def balance(groups, n_groups: int, seed: int, stream: int = 0) -> np.ndarray:
    """Row indices (sorted) that keep the same number of rows of every group: each group
    is undersampled, uniformly without replacement, to the smallest group's size (random
    draws from ``(seed, stream)``)."""
    groups = np.asarray(groups)
    n_groups = V.check_int("n_groups", n_groups, 1)
    seed = V.check_seed(seed)
    counts = np.bincount(groups, minlength=n_groups)
    if counts.size > n_groups:
        raise ValueError(f"groups must be in [0, {n_groups - 1}]")
    if counts.min() == 0:
        raise ValueError(f"group {int(np.argmin(counts))} has no rows; every group needs rows "
                         f"to balance")
    m = int(counts.min())
    g = rng(seed, 0xBA1, int(stream))
    keep = [g.choice(np.flatnonzero(groups == k), m, replace=False) for k in range(n_groups)]
    return np.sort(np.concatenate(keep))



def pooled_features(model, x, layers=TSNE_LAYERS, *, batch_size: int = 512,
                    progress: bool = False) -> dict:
    """Global-average-pooled activations after each of ``layers`` (one forward pass per
    batch for all): ``{layer: (n, channels) float32}``."""
    for name in layers:
        if name not in model.feature_names():
            raise ValueError(f"unknown layer {name!r}; valid: {', '.join(model.feature_names())}")
    dev = next(model.parameters()).device
    store, hooks = {}, []
    for name in layers:
        hooks.append(model.block(name).register_forward_hook(
            lambda _m, _i, o, name=name: store.__setitem__(name, o.mean(-1))))
    out = {name: [] for name in layers}
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for lo in tqdm(range(0, len(x), batch_size), disable=not progress,
                           desc="features", unit="batch", file=sys.stderr):
                xb = torch.as_tensor(np.ascontiguousarray(x[lo:lo + batch_size]),
                                     dtype=torch.float32).to(dev)
                model(xb)
                for name in layers:
                    out[name].append(store[name].float().cpu().numpy())
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return {k: (np.concatenate(v) if v else np.empty((0, 0), np.float32)) for k, v in out.items()}



def train_probe(ftrain, gtrain, ftest, gtest, n_groups: int, *, epochs: int = 30,
                lr: float = 1e-4, batch_size: int = 1024, seed: int = 0,
                device: str = "cpu") -> dict:
    """A Linear probe on pooled features: Adam(lr), cross entropy, ``epochs`` passes in
    batches of ``batch_size`` (shuffled per epoch).  Returns held-out ``accuracy`` (%) after
    the last epoch, ``train_accuracy``, ``history`` (per epoch: loss, held-out accuracy)."""
    epochs = V.check_int("epochs", epochs, 1)
    batch_size = V.check_int("batch_size", batch_size, 1)
    n_groups = V.check_int("n_groups", n_groups, 2)
    seed = V.check_seed(seed) % 2**63  # torch seeds
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    Xtr = torch.as_tensor(np.asarray(ftrain, np.float32), device=device)
    ytr = torch.as_tensor(np.asarray(gtrain, np.int64), device=device)
    Xte = torch.as_tensor(np.asarray(ftest, np.float32), device=device)
    yte = torch.as_tensor(np.asarray(gtest, np.int64), device=device)
    if Xtr.ndim != 2 or Xte.ndim != 2 or Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"features must be (n, channels) with equal channels, got "
                         f"{tuple(Xtr.shape)} and {tuple(Xte.shape)}")
    if ytr.shape != (Xtr.shape[0],) or yte.shape != (Xte.shape[0],):
        raise ValueError("one group label per feature row is needed")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = torch.nn.Linear(Xtr.shape[1], n_groups).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    history = []

    def acc(X, y):
        if not len(y):
            return float("nan")
        with torch.no_grad():
            return 100.0 * float((head(X).argmax(1) == y).float().mean())

    for ep in range(epochs):
        perm = torch.randperm(Xtr.shape[0], generator=g).to(device)
        tot = 0.0
        for lo in range(0, Xtr.shape[0], batch_size):
            idx = perm[lo:lo + batch_size]
            loss = F.cross_entropy(head(Xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * idx.numel()
        history.append({"epoch": ep + 1, "loss": tot / max(1, Xtr.shape[0]),
                        "heldout_accuracy": acc(Xte, yte)})
    return {"accuracy": acc(Xte, yte), "train_accuracy": acc(Xtr, ytr), "history": history,
            "n_train": int(Xtr.shape[0]), "n_test": int(Xte.shape[0]), "epochs": epochs,
            "lr": lr, "batch_size": batch_size}



def tsne_embed(features, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of ``features`` (n, channels): sklearn, PCA initialisation, perplexity
    min(30, (n - 1) / 3), ``random_state=seed``."""
    from sklearn.manifold import TSNE  # lazy: sklearn is slow to import

    f = np.asarray(features, np.float64)
    n = f.shape[0]
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {n}")
    perp = float(min(30.0, (n - 1) / 3.0))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=int(seed) % 2**32
                ).fit_transform(f).astype(np.float32)



def tsne_figure(emb: dict, labels, path, title: str = "") -> None:
    """One panel per layer, points coloured by the layer's grouping (layer4: classes)."""
    from matplotlib.figure import Figure  # lazy: matplotlib

    layers = [l for l in TSNE_LAYERS if l in emb]
    fig = Figure(figsize=(3.3 * len(layers), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(layers)))
    by_layer = {BLOCKS[k]["layer"]: BLOCKS[k] for k in BLOCKS}
    for ax, layer in zip(axes, layers):
        spec = by_layer.get(layer, BLOCKS[3])
        gid = group_labels(labels, spec["groups"])
        e = emb[layer]
        for k, name in enumerate(spec["names"]):
            m = gid == k
            ax.scatter(e[m, 0], e[m, 1], s=2, color=f"C{k}", label=name, alpha=0.7,
                       rasterized=True)
        ax.set_title(f"{layer} ({len(spec['names'])} groups)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=5, markerscale=3, loc="best")
    if title:
        fig.suptitle(title, fontsize=9)
    atomic_savefig(fig, path)



def _load_x(src, fields=("x", "label")):
    """``(x, label)`` from a list of dataset files or an in-memory dataset dict."""
    if isinstance(src, dict):
        return src["x"], src["label"]
    xs, ys = [], []
    for p in src:
        d = D.load(p, fields=fields)
        xs.append(d["x"])
        ys.append(d["label"])
    return np.concatenate(xs), np.concatenate(ys)


def _features(model, out, settings, key, train, test, progress) -> dict:
    """Pooled features of the train and held-out sets, cached in features.npz."""
    fpath = os.path.join(out, "features.npz")
    if os.path.exists(fpath):
        with np.load(fpath) as z:
            if str(z["key"]) == key:
                return {k: z[k] for k in z.files if k != "key"}
    feats = {}
    for split, files in (("train", train), ("test", test)):
        src = files if files else D.resandi(settings["family"], split, settings["n_per_class"],
                                            settings["seed"], z=False, progress=progress)
        x, y = _load_x(src)
        layers = TSNE_LAYERS if split == "test" else tuple(b["layer"] for b in BLOCKS.values())
        f = pooled_features(model, x, layers, progress=progress)
        del x, src
        for layer, v in f.items():
            feats[f"{split}_{layer}"] = v
        feats[f"{split}_label"] = y
    atomic_savez(fpath, key=np.array(key), **feats)
    return feats


def _probe(k, spec, feats, settings, opts, dev, out, progress) -> dict:
    """The probe of block ``k`` (cached in probe_<k>.json)."""
    p = os.path.join(out, f"probe_{k}.json")
    pkey = dict(settings, **opts, block=k)
    if os.path.exists(p):
        with open(p) as f:
            r = json.load(f)
        if r.get("key") == pkey:
            return r
    seed = settings["seed"]
    ng = len(spec["groups"])
    gtr = group_labels(feats["train_label"], spec["groups"])
    gte = group_labels(feats["test_label"], spec["groups"])
    itr = balance(gtr, ng, seed, 2 * k)
    ite = balance(gte, ng, seed, 2 * k + 1)
    layer = spec["layer"]
    r = train_probe(feats[f"train_{layer}"][itr], gtr[itr], feats[f"test_{layer}"][ite],
                    gte[ite], ng, seed=seed + k, device=str(dev), **opts)
    r.update(block=k, layer=layer, groups=[list(g) for g in spec["groups"]],
             names=list(spec["names"]), paper=spec["paper"], key=pkey,
             channels=int(feats[f"train_{layer}"].shape[1]),
             per_group_train=int(itr.size // ng), per_group_test=int(ite.size // ng))
    atomic_write_json(p, r)
    say(progress, f"probes: block {k} ({layer}, {ng} groups): held-out accuracy "
                  f"{r['accuracy']:.2f}% (paper {spec['paper']:.2f}%)")
    return r


def _tsne(feats, settings, tsne_points, out, progress) -> None:
    """tsne.npz and tsne.png of a class-balanced held-out subsample (skipped when done)."""
    tpath, png = os.path.join(out, "tsne.npz"), os.path.join(out, "tsne.png")
    tkey = json.dumps(dict(settings, tsne_points=tsne_points), sort_keys=True)
    if os.path.exists(tpath) and os.path.exists(png):
        with np.load(tpath) as z:
            if str(z["key"]) == tkey:
                return
    seed = settings["seed"]
    y = feats["test_label"]
    classes = np.unique(y)
    per = max(1, tsne_points // classes.size)
    g = rng(seed, 0x75E)
    rows = np.sort(np.concatenate([
        g.choice(np.flatnonzero(y == c), min(per, int((y == c).sum())), replace=False)
        for c in classes]))
    emb = {}
    for layer in TSNE_LAYERS:
        say(progress, f"probes: t-SNE of {layer} ({rows.size} points)")
        emb[layer] = tsne_embed(feats[f"test_{layer}"][rows], seed)
    atomic_savez(tpath, key=np.array(tkey), rows=rows, **emb)
    tsne_figure(emb, y[rows], png,
                title=f"t-SNE of pooled features, {rows.size} held-out trajectories")


def run(checkpoint, out, *, train=None, test=None, n_per_class: int = 10000, seed: int = 0,
        epochs: int = 30, lr: float = 1e-4, batch_size: int = 1024, tsne_points: int = 5000,
        device=None, check_family: bool = True, progress: bool = True) -> dict:
    """Probes for blocks 1-3 and the t-SNE figure, written to ``out``: ``features.npz``
    (cached pooled features), ``probe_<k>.json``, ``probes.json``, ``probes.csv``,
    ``tsne.npz``, ``tsne.png``.  ``train`` / ``test``: dataset file(s) of the model's
    family (default: generated in memory, ``n_per_class`` per class of the "train" /
    "test" split under ``seed``).  Stages whose outputs exist are skipped."""
    t0 = time.perf_counter()
    seed = V.check_seed(seed)
    n_per_class = V.check_int("n_per_class", n_per_class, 1, D.MAX_PER_CLASS)
    epochs = V.check_int("epochs", epochs, 1)
    batch_size = V.check_int("batch_size", batch_size, 1)
    tsne_points = V.check_int("tsne_points", tsne_points, 0)
    check_checkpoint(checkpoint)
    dev = V.torch_device(device)
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    family = meta.get("family") or "fixed"
    train = [train] if isinstance(train, (str, os.PathLike)) else train
    test = [test] if isinstance(test, (str, os.PathLike)) else test
    for p in list(train or []) + list(test or []):
        D.inspect(p, family=family if check_family else None)
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    settings = {"checkpoint": os.path.abspath(checkpoint),
                "checkpoint_mtime": os.path.getmtime(checkpoint),
                "train": [os.path.abspath(p) for p in train] if train else None,
                "test": [os.path.abspath(p) for p in test] if test else None,
                "n_per_class": n_per_class, "seed": seed, "family": family}
    feats = _features(model, out, settings, json.dumps(settings, sort_keys=True), train, test,
                      progress)
    opts = {"epochs": epochs, "lr": lr, "batch_size": batch_size}
    results = {k: _probe(k, spec, feats, settings, opts, dev, out, progress)
               for k, spec in BLOCKS.items()}
    if tsne_points > 0:
        _tsne(feats, settings, tsne_points, out, progress)
    table = [{"block": k, "layer": r["layer"], "groups": len(r["names"]),
              "accuracy": round(r["accuracy"], 3), "train_accuracy": round(r["train_accuracy"], 3),
              "paper": r["paper"], "difference": round(r["accuracy"] - r["paper"], 3),
              "n_train": r["n_train"], "n_test": r["n_test"], "epochs": r["epochs"]}
             for k, r in results.items()]
    atomic_write_csv(os.path.join(out, "probes.csv"), table)
    summary = {"format": FORMAT, "format_version": 1, "settings": settings,
               "epochs": epochs, "lr": lr, "batch_size": batch_size,
               "tsne_points": tsne_points, "table": table,
               "blocks": {str(k): {kk: vv for kk, vv in r.items() if kk != "key"}
                          for k, r in results.items()},
               "wall_seconds_this_call": round(time.perf_counter() - t0, 3)}
    atomic_write_json(os.path.join(out, "probes.json"), summary)
    return summary


__all__ = ["BLOCKS", "TSNE_LAYERS", "balance", "group_labels", "pooled_features", "run",
           "train_probe", "tsne_embed", "tsne_figure"]
