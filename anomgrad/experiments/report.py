"""``report.md`` of ``anomgrad reproduce``: every number of the run beside the paper's,
one section per experiment, with the machine, the seeds and the stage times."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os

import numpy as np

from ..io.atomic import atomic_savefig, atomic_write_text, read_json
from ..resandi.task import CLASS_NAMES
from . import paper
from . import verdicts as V
from .profiles import PROFILES, SHIPPED_TOLERANCE, STAGES, paths, profile
from .noise import paper_level
from .relevance import STATS


def _f(v, nd=2):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.{nd}f}"


def _pm(m, e, nd=2):
    if e is None or not np.isfinite(e):
        return _f(m, nd)
    return f"{m:.{nd}f} ± {e:.{nd}f}"


def _section_run(prof, seed, state) -> list[str]:
    quick = prof.label == "quick"
    hw = state.get("hardware", {})
    L = []
    L.append("# ResAnDi reproduction report (anomgrad reproduce)\n")
    sizes = (f"{prof.n_per_class.train} training trajectories per class per file "
             f"({prof.train_files} file(s) per family), {prof.n_per_class.test} per "
             f"class for testing, width-{prof.base.width} networks, base recipe "
             f"`{prof.base.recipe}`, {prof.augment.models} models per "
             f"augmentation arm (recipe `{prof.augment.recipe}`)")
    if quick:
        L.append("> **QUICK RUN: a plumbing check, not a reproduction.** Tiny datasets "
                 f"and narrow networks trained for seconds: {sizes}. The numbers only show "
                 "that every stage runs and produces sensible output; they are not "
                 "comparable with the paper's.\n")
    elif prof == PROFILES["full"]:
        L.append(f"Full size, the paper's protocol: {sizes}.\n")
    elif prof in (PROFILES["cpu"], profile(name="cpu", varying_start="shipped")):
        shipped = prof.base.varying_start == "shipped"
        L.append(f"CPU profile, sized to measure every finding in about 3 hours on 2 cores: "
                 f"{sizes}. What differs from the paper's run (the GPU command in "
                 "docs/results.md §1): width 16, not 64; the fast recipe on fresh trajectories "
                 f"for {prof.base.minutes:g} minutes per family"
                 f"{' (the T = 1000 one; the varying-T one: below)' if shipped else ''}, not "
                 "the published recipe on 5 files; one training file per family, the augmentation's source; 2,000 test "
                 "tracks per class, not 10,000; 3 networks per augmentation arm, not 5; the "
                 "relevance on one T = 1000 test file, not five. Findings that could change "
                 "at width 64: the accuracies (the paper's network has 16x the parameters), the "
                 "probes (blocks 1-3 have 16/32/64 channels, not 64/128/256) and the strength "
                 "of the relevance correlations.\n")
        if shipped:
            L.append("> **The varying-T network was not trained by this run** "
                     "(`--varying-start shipped`): it is the shipped \"clean\" model "
                     "(`ag.pretrained(name=\"clean\")`), trained from scratch with the same "
                     "recipe (fast, width 16, fresh trajectories, seed 0) for 8,192 steps on "
                     "a 2-core CPU (`runs/varying/summary.json` has its command and time). "
                     "`--varying-start scratch` (the default) trains it here instead.\n")
    elif prof == profile(False, recipe="fast"):
        L.append(f"Full size with anomgrad's fast recipe instead of the published one: "
                 f"{sizes}.\n")
    else:
        L.append(f"> **CUSTOM SIZES** (not the paper's): {sizes}.\n")
    total = sum(s.get("seconds", 0.0) for s in state["stages"].values())
    L.append("## Run\n")
    L.append(f"* Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}; "
             f"device `{state.get('device')}`.")
    gpu = ", ".join(hw["gpu"]) if hw.get("gpu") else "none"
    L.append(f"* Hardware: CPU {hw.get('cpu')} ({hw.get('cores')} logical cores, "
             f"{hw.get('memory_gib')} GiB); GPU: {gpu}.")
    L.append(f"* Software: anomgrad {hw.get('anomgrad')} (git {hw.get('git_commit')}), torch "
             f"{hw.get('torch')} ({hw.get('torch_threads')} threads), Python {hw.get('python')}.")
    L.append(f"* Seeds: everything derives from `--seed {seed}`: dataset files (seed {seed}, "
             f"file numbers 0..), network initialisation and batch order (`ag.train` seed "
             f"{seed}), erasure random baseline (chunk j: SeedSequence([{seed}, j])), "
             f"augmentation (angles and random-arm rows from SeedSequence([{seed}, 0xA6, arm]), "
             f"model k of both arms trained with seed {seed} + k, noise level i with "
             f"SeedSequence([{seed}, 0x5E, i])), probes (balancing SeedSequence([{seed}, 0xBA1, "
             f"2k(+1)]), head init seed {seed} + k, t-SNE random_state {seed}).")
    L.append(f"* Total wall time of the stages: {total:.1f} s ({total / 60:.1f} min).\n")
    L.append("| stage | wall time (s) | planned (s) | status |")
    L.append("| --- | ---: | ---: | --- |")
    for name in STAGES:
        s = state["stages"].get(name, {})
        L.append(f"| {name} | {_f(s.get('seconds'), 1)} | {_f(s.get('planned_seconds'), 1)} "
                 f"| {s.get('status', 'not run')} |")
    L.append("")
    return L


def _section_protocol(prof) -> list[str]:
    """Where the run follows the published code, and where (and why) it does not."""
    grid = prof.augment.noise_grid
    return [
        "## Protocol\n",
        "* **Trajectories that never move are redrawn** with the same T and alpha, as the "
        "published generator does (dataset format 2; about 12 % of varying-T and 9 % of "
        "T = 1000 sub-CTRW rows would otherwise be all zero).",
        "* **Noise levels** (augmentation): " + (
            "the paper's *effective* levels 0, 0.1, 0.224, ..., 1.962, each added to a clean "
            "copy: the published code added its nominal levels 0, 0.1, ..., 1.0 cumulatively, "
            "which is the same noise in distribution; the paper's numbers stand at those "
            "effective sigmas." if grid == "effective" else
            "the *nominal* grid 0, 0.1, ..., 1.0, each added to a clean copy; the published "
            "code accumulated its noise, so its curves sit at the effective sigmas and meet "
            "ours only at 0 and 0.1."),
        "* **Erasure baselines**: random cells and random runs of the targeted run lengths, "
        "side by side. " + paper.ERASURE_BASELINE,
        "* **Batch order** of the paper recipe: the training files in turn, rows shuffled "
        "within each file, every epoch (as published).",
        "* **Per-class draws**: every trajectory has its own T and alpha; the published code "
        "gives trajectory j of all 8 classes the same T, of the 4 sub-diffusive classes the "
        "same alpha, and of the 3 super-diffusive classes another (docs/method.md §7). This "
        "does not change any class's distribution.\n",
    ]


def _section_accuracy(p) -> list[str]:
    L = []
    L.append("## 1. Test accuracy (docs/method.md §3)\n")
    ev = {fam: read_json(os.path.join(p[f"{fam}_eval"], "metrics.json"))
          for fam in ("varying", "fixed")}
    L.append("| family | ours (%) | paper (%) | difference (points) | test trajectories |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    for fam in ("varying", "fixed"):
        e = ev[fam]
        if e:
            acc = 100 * e["accuracy"]
            L.append(f"| {fam} | {acc:.2f} | {paper.ACCURACY[fam]:.2f} | "
                     f"{acc - paper.ACCURACY[fam]:+.2f} | {e['n']} |")
    L.append("")
    shipped = {fam: read_json(os.path.join(p[f"{fam}_shipped_eval"], "metrics.json"))
               for fam in ("varying", "fixed")}
    if any(shipped.values()):
        L.append("The shipped clean model (`ag.pretrained(name=\"clean\")`: width 16, trained "
                 "on varying-T tracks for 80 minutes on 2 CPU cores) on the same test files, "
                 f"the reference a width-16 run should come within {SHIPPED_TOLERANCE:g} points "
                 "of:\n")
        L.append("| family | ours (%) | shipped (%) | ours - shipped (points) | within "
                 f"{SHIPPED_TOLERANCE:g} |")
        L.append("| --- | ---: | ---: | ---: | --- |")
        for fam in ("varying", "fixed"):
            if ev[fam] and shipped[fam]:
                o, s_ = 100 * ev[fam]["accuracy"], 100 * shipped[fam]["accuracy"]
                ok = "yes" if o >= s_ - SHIPPED_TOLERANCE else "**no**"
                L.append(f"| {fam} | {o:.2f} | {s_:.2f} | {o - s_:+.2f} | {ok} |")
        L.append("")
    if ev["varying"]:
        L.append("Per-class accuracy, varying T (%):\n")
        L.append("| class | ours | paper | ours, T = 1000 model on T = 1000 |")
        L.append("| --- | ---: | ---: | ---: |")
        for c in CLASS_NAMES:
            o = ev["varying"]["per_class"].get(c, {}).get("accuracy")
            fx = (ev["fixed"] or {}).get("per_class", {}).get(c, {}).get("accuracy")
            L.append(f"| {c} | {_f(None if o is None else 100 * o)} | "
                     f"{paper.PER_CLASS_VARYING[c]:.1f} | "
                     f"{_f(None if fx is None else 100 * fx)} |")
        cm = np.asarray(ev["varying"]["confusion"], np.float64)
        if cm.shape[0] >= 8 and cm[0].sum() > 0:
            L.append(f"\nsub-ATTM classified as BM: ours {100 * cm[0, 7] / cm[0].sum():.1f} %, "
                     f"paper {paper.ATTM_AS_BM} %.")
        L.append("")
        L.append("Figures: `eval/varying/confusion.png`, `eval/fixed/confusion.png`, "
                 "`accuracy_vs_alpha.png`, `accuracy_vs_T.png` there.\n")
    return L


def _section_erasure(p) -> list[str]:
    L = []
    er = read_json(os.path.join(p["erasure"], "erasure.json"))
    L.append("## 2. Targeted erasure (Fig. 3)\n")
    if er:
        L.append(f"Varying-T model, {er['n']} test trajectories; accuracy without erasure "
                 f"{er['accuracy_no_erasure']:.2f} %. Figure: `erasure/erasure.png`. Two random "
                 "baselines erase as much at random: *random cells* (as many cells, uniformly) "
                 "and *random runs* (runs of the targeted runs' lengths at random places, never "
                 "the last cell). " + paper.ERASURE_BASELINE + "\n")
        L.append("| band | ours targeted | ours random cells | ours random runs | "
                 "paper targeted | paper random | cells erased |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        runs = er.get("random_runs", [float("nan")] * len(er["bands"]))
        for i, band in enumerate(er["bands"]):
            L.append(f"| {band} | {er['targeted'][i]:.2f} | {er['random'][i]:.2f} | "
                     f"{_f(runs[i])} | {paper.ERASURE['targeted'][i]:.2f} | "
                     f"{paper.ERASURE['random'][i]:.2f} | "
                     f"{er['mean_cells_erased'][i]:.2f} |")
        gap = er["targeted"][0] - er["targeted"][-1]
        pgap = paper.ERASURE["targeted"][0] - paper.ERASURE["targeted"][-1]
        L.append(f"\nDrop from band 0-10 to band 90-100: ours {gap:+.2f} points, paper "
                 f"{pgap:+.2f} points.\n")
    return L


def _section_augmentation(p) -> list[str]:
    L = []
    ag_ = read_json(os.path.join(p["augment"], "augment.json"))
    L.append("## 3. Targeted augmentation and noise robustness (Fig. 5)\n")
    if ag_:
        s = ag_["summary"]
        AP = paper.AUGMENT
        L.append(f"{s['targeted_models']} models per arm; {ag_['sets']['targeted']['rows']} "
                 f"training rows per arm ({ag_['sets']['targeted']['extra']} rotated copies); "
                 f"{ag_['test_rows_used']} test trajectories. Mean ± s.e.m. over the models, in "
                 "%; difference = targeted - random ± sqrt(sem_t² + sem_r²). Our noise is added "
                 "to a clean copy at every level. The published code let it accumulate from "
                 "level to level, so its nominal level sigma_k was noise of std "
                 "sqrt(sum_{j<=k} sigma_j²); its numbers stand beside ours at that effective "
                 "sigma (their nominal sigma in the last column). Figure: "
                 "`augment/augment.png`.\n")
        L.append("| sigma | ours targeted | ours random | ours difference | paper targeted | "
                 "paper random | paper difference | paper nominal sigma |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, sg in enumerate(s["sigma"]):
            j = paper_level(sg)
            pt = AP["targeted"][j] if j is not None else None
            pr = AP["random"][j] if j is not None else None
            L.append(f"| {sg:.3g} | {_pm(s['targeted'][i], s['targeted_sem'][i])} | "
                     f"{_pm(s['random'][i], s['random_sem'][i])} | "
                     f"{_pm(s['difference'][i], s['difference_unc'][i])} | {_f(pt)} | {_f(pr)} | "
                     f"{'n/a' if pt is None else f'{pt - pr:+.2f}'} | "
                     f"{'n/a' if j is None else AP['sigma'][j]} |")
        L.append("")
    return L


def _section_probes(p) -> list[str]:
    L = []
    pr_ = read_json(os.path.join(p["probes"], "probes.json"))
    L.append("## 4. Layer-wise linear probes (T = 1000 model)\n")
    if pr_:
        L.append(f"Adam lr {pr_['lr']}, batch {pr_['batch_size']}, {pr_['epochs']} epochs on "
                 "balanced pooled features; held-out = the T = 1000 test file (balanced). "
                 "t-SNE: `probes/tsne.png`.\n")
        L.append("| block | groups | ours (%) | paper (%) | difference | train / held-out rows |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in pr_["table"]:
            L.append(f"| {r['block']} ({r['layer']}) | {r['groups']} | {r['accuracy']:.2f} | "
                     f"{r['paper']:.2f} | {r['difference']:+.2f} | "
                     f"{r['n_train']} / {r['n_test']} |")
        L.append("")
    return L


def _section_relevance(p) -> list[str]:
    L = []
    rl = read_json(os.path.join(p["relevance"], "relevance.json"))
    L.append("## 5. Statistical relevance (T = 1000 model)\n")
    if rl:
        L.append(f"{rl['n']} trajectories x 32 windows; Pearson r of the raw layer-4 Grad-CAM "
                 "cell with each statistic, ours (paper). Spearman in `relevance/relevance.csv`; "
                 "heat maps in `relevance/relevance.png`.\n")
        L.append("| class | AC | CS | SG | VD |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        by = {(r["name"], r["statistic"]): r for r in rl["rows"]}
        for c in CLASS_NAMES:
            cells = []
            for st in STATS:
                r = by.get((c, st))
                cells.append("n/a" if r is None else
                             f"{_f(r['pearson'], 3)} ({_f(r['paper_pearson'], 3)})")
            L.append(f"| {c} | " + " | ".join(cells) + " |")
        L.append("\nLargest |r| per class, ours vs the paper's:\n")
        L.append("| class | ours | paper |")
        L.append("| --- | --- | --- |")
        for r in rl["largest"]:
            L.append(f"| {r['name']} | {r['statistic']} {_f(r['pearson'], 3)} | "
                     f"{r['paper_statistic']} {_f(r['paper_pearson'], 3)} |")
        L.append("")
    return L


# the pairs the paper singles out (docs/method.md §5.4): class, statistic
RELEVANCE_FINDINGS = (("sub-CTRW", "AC"), ("sub-CTRW", "SG"), ("super-FBM", "AC"),
                      ("sub-SBM", "VD"), ("super-SBM", "VD"))


def _verdict_rows(p) -> list[tuple]:
    """(finding, rule key, estimate, low, high, paper, note) of every finding the run's
    outputs hold, in the report's order.  Intervals (95 %): Wilson for accuracies; for a
    difference of two accuracies on the same tracks, the unpaired normal interval
    (conservative: the tracks' outcomes are positively correlated); over networks, t with
    the arms' s.e.; for correlations, Fisher z over trajectories (not windows: conservative)."""
    rows = []
    for fam in ("varying", "fixed"):
        e = read_json(os.path.join(p[f"{fam}_eval"], "metrics.json"))
        if e:
            k = round(e["accuracy"] * e["n"])
            rows.append((f"test accuracy, {fam}", "accuracy", *V.proportion_interval(k, e["n"]),
                         paper.ACCURACY[fam], f"{e['n']} tracks"))
            if fam == "varying":
                cm = np.asarray(e["confusion"], np.int64)
                for c, name in enumerate(CLASS_NAMES):
                    rows.append((f"accuracy, {name} (varying)", "accuracy_per_class",
                                 *V.proportion_interval(int(cm[c, c]), int(cm[c].sum())),
                                 paper.PER_CLASS_VARYING[name], f"{int(cm[c].sum())} tracks"))
                rows.append(("sub-ATTM read as BM (%)", "attm_as_bm",
                             *V.proportion_interval(int(cm[0, 7]), int(cm[0].sum())),
                             paper.ATTM_AS_BM, "share of sub-ATTM tracks"))
    er = read_json(os.path.join(p["erasure"], "erasure.json"))
    if er:
        n = er["n"]

        def diff(a, b):  # accuracies in %, same n tracks
            se = 100 * math.sqrt((a / 100) * (1 - a / 100) / n + (b / 100) * (1 - b / 100) / n)
            return (a - b, *V.normal_interval(a - b, se))

        t, P = er["targeted"], paper.ERASURE
        rows.append(("erasure: band 0-10 minus band 90-100", "erasure_extremes",
                     *diff(t[0], t[-1]), P["targeted"][0] - P["targeted"][-1], f"{n} tracks"))
        for i, band in enumerate(er["bands"]):
            effect = P["targeted"][i] - P["random"][i]
            for key, what in (("random", "random cells"), ("random_runs", "random runs")):
                if key in er and effect != 0:
                    rows.append((f"erasure band {band} minus {what}", "erasure_vs_random",
                                 *diff(t[i], er[key][i]), effect,
                                 "the paper's random row" if key == "random" else
                                 "the stricter control"))
    ag_ = read_json(os.path.join(p["augment"], "augment.json"))
    if ag_:
        s = ag_["summary"]
        m = min(s["targeted_models"], s["random_models"])
        for i, sg in enumerate(s["sigma"]):
            j = paper_level(sg)
            if j is None or sg == 0:
                continue
            effect = paper.AUGMENT["targeted"][j] - paper.AUGMENT["random"][j]
            d, u = s["difference"][i], s["difference_unc"][i]
            lo, hi = V.t_interval(d, u, 2 * (m - 1)) if m > 1 else (float("nan"),) * 2
            rows.append((f"augmentation at sigma {sg:.3g}: targeted minus random", "augment",
                         d, lo, hi, effect, f"{m} networks per arm"))
    pr_ = read_json(os.path.join(p["probes"], "probes.json"))
    if pr_:
        for r in pr_["table"]:
            chance = 100 / r["groups"]
            k = round(r["accuracy"] / 100 * r["n_test"])
            est, lo, hi = V.proportion_interval(k, r["n_test"])
            rows.append((f"probe after block {r['block']} ({r['groups']} groups) above chance",
                         "probes", est - chance, lo - chance, hi - chance, r["paper"] - chance,
                         "the paper's number is untraceable (docs/method.md §5.3)"))
    rl = read_json(os.path.join(p["relevance"], "relevance.json"))
    if rl:
        by = {(r["name"], r["statistic"]): r for r in rl["rows"]}
        for c, st in RELEVANCE_FINDINGS:
            r = by.get((c, st))
            if r is None or not np.isfinite(r["pearson"]):
                continue
            n_traj = r["pairs"] // 32
            lo, hi = (V.correlation_interval(r["pearson"], n_traj) if n_traj > 3
                      else (float("nan"),) * 2)
            rows.append((f"relevance: {c} {st} (Pearson r)", "relevance", r["pearson"], lo, hi,
                         paper.RELEVANCE[c][st][0], f"{n_traj} tracks"))
    return rows


def _verdicts(rows) -> list[tuple]:
    """Each row of :func:`_verdict_rows` with its word (:func:`.verdicts.decide`)."""
    out = []
    for row in rows:
        _, key, est, lo, hi, ref, _ = row
        known = np.isfinite(lo) and np.isfinite(hi)
        out.append((*row, V.decide(V.RULES[key], est, lo, hi, ref) if known else
                    V.INCONCLUSIVE))
    return out


# the panels of verdicts.png: (title, rule keys, whether the statistic is an effect whose
# zero is drawn)
_PANELS = (("accuracy (%)", ("accuracy", "accuracy_per_class", "attm_as_bm"), False),
           ("erasure (Fig. 3): accuracy difference, points", ("erasure_extremes",
                                                              "erasure_vs_random"), True),
           ("augmentation (Fig. 5): targeted - random, points", ("augment",), True),
           ("probes: accuracy above chance, points", ("probes",), True),
           ("relevance: Pearson r", ("relevance",), True))
_COLOURS = {V.REPRODUCED: "C2", V.NOT_REPRODUCED: "C3", V.INCONCLUSIVE: "0.5"}


def verdict_figure(rows, path) -> bool:
    """``verdicts.png``: every finding as a forest plot, our statistic with its 95 %
    interval (coloured by the verdict) beside the paper's number (black x), one panel per
    kind of finding.  ``rows``: :func:`_verdicts`.  False (nothing drawn) without rows."""
    from matplotlib.figure import Figure  # lazy: matplotlib

    panels = [(t, [r for r in rows if r[1] in keys], zero) for t, keys, zero in _PANELS]
    panels = [pn for pn in panels if pn[1]]
    if not panels:
        return False
    heights = [max(2, len(rs)) for _, rs, _ in panels]
    fig = Figure(figsize=(7.5, 0.22 * sum(heights) + 1.2 * len(panels)))
    axes = fig.subplots(len(panels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (title, rs, zero) in zip(axes[:, 0], panels):
        ys = np.arange(len(rs))[::-1]
        for y, (what, _, est, lo, hi, ref, _, word) in zip(ys, rs):
            c = _COLOURS[word]
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=c, lw=2)
            ax.plot(est, y, "o", color=c, ms=4)
            ax.plot(ref, y, "x", color="k", ms=5)
        ax.set_yticks(ys, [r[0] for r in rs], fontsize=6)
        if zero:
            ax.axvline(0, color="0.7", lw=0.8)
        ax.set_title(title, fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    handles = [axes[0, 0].plot([], [], "o-", color=c, label=w)[0] for w, c in _COLOURS.items()]
    handles.append(axes[0, 0].plot([], [], "x", color="k", label="paper")[0])
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=4)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    atomic_savefig(fig, path)
    return True


def _section_verdicts(rows) -> list[str]:
    """One word per finding (:mod:`.verdicts`), with the rule that decides it.  ``rows``:
    :func:`_verdicts`."""
    L = ["## Verdicts\n",
         "Each finding of the paper, our statistic with its 95 % interval, the paper's number "
         "and one word, decided by a rule fixed before the run (`anomgrad/experiments/"
         "verdicts.py`; the rules are listed below the table).\n",
         "| finding | ours | 95 % interval | paper | verdict | note |",
         "| --- | ---: | --- | ---: | --- | --- |"]
    for what, key, est, lo, hi, ref, note, word in rows:
        ci = (f"[{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) and np.isfinite(hi)
              else "none (one network or too few tracks)")
        L.append(f"| {what} | {est:.3g} | {ci} | {ref:.3g} | **{word}** | {note} |")
    if rows:
        L.append("\nFigure: `verdicts.png` (each finding's interval, coloured by its verdict, "
                 "and the paper's number).")
    L.append("\nRules (fixed before the run):\n")
    for key in dict.fromkeys(r[1] for r in rows):
        L.append(f"* `{key}`: {V.RULES[key].text()}.")
    L.append("")
    return L


def write_report(out, prof, seed, state) -> str:
    """``out/report.md``: every number of the run beside the paper's."""
    p = paths(out, prof)
    rows = _verdicts(_verdict_rows(p))
    verdict_figure(rows, os.path.join(out, "verdicts.png"))
    L = _section_run(prof, seed, state) + _section_protocol(prof) + _section_verdicts(rows)
    for section in (_section_accuracy, _section_erasure,
                    _section_augmentation, _section_probes, _section_relevance):
        L += section(p)
    L.append("## Settings\n")
    L.append("```json\n" + json.dumps(dataclasses.asdict(prof), indent=1) + "\n```\n")
    text = "\n".join(L)
    atomic_write_text(os.path.join(out, "report.md"), text)
    return text


__all__ = ["verdict_figure", "write_report"]
