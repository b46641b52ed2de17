"""Every published number anomgrad compares itself with, in one place.

Source: Bae, Baek & Jeong, "Exploring how deep learning decodes anomalous diffusion via
Grad-CAM" (arXiv 2410.16345; Nature Communications 2026), and the result files the
authors committed with their code (GitHub peardragon/ResAnDi, ``analysis_results/``);
docs/method.md lists them with their protocols.
"""

from __future__ import annotations

import math

from ..resandi.task import CLASS_NAMES

# Test accuracy (%) of the full network, noiseless test sets (method §3).
ACCURACY = {"varying": 90.36, "fixed": 94.89}
# Per-class accuracy (%), varying-T test set.
PER_CLASS_VARYING = dict(zip(CLASS_NAMES, (75.5, 93.0, 96.2, 90.9, 90.1, 96.9, 92.7, 87.5)))
# Share (%) of sub-ATTM classified as BM, varying T.
ATTM_AS_BM = 12.5

# Targeted erasure (Fig. 3): analysis_results/erasing_method/p*_{erased,random}_total_
# noiseless.npy (accuracy %, varying-T model, 80,000 test trajectories).
ERASURE = {
    "bands": [f"{10 * b}-{10 * b + 10}" for b in range(10)],
    "targeted": [44.74, 42.67, 40.16, 36.33, 31.54, 28.95, 27.82, 26.41, 25.64, 23.75],
    "random": [27.82, 27.71, 27.89, 27.73, 25.00, 24.67, 27.71, 27.88, 27.86, 27.78],
}
# Which of our two random baselines the paper's random row compares with (docs/experiments.md,
# "Erasure"): the one place that says it, quoted by the report.
ERASURE_BASELINE = (
    "The paper's random row compares with our *random cells*. The published "
    "`_gradcam_occlusion_results_trajwise` writes the random-cells option (`random=\"Pure\"`, "
    "its default) to `analysis_results/erasing_method/p*_random_total_noiseless.npy`, the "
    "files the authors committed, and the random-runs option (`get_random_indexes`) to names "
    "prefixed `consecutive_conservation`, of which none was committed. As committed the "
    "function cannot run (it appends `erased`, a name it never defines, and resets `random = "
    "[]`, which would select the runs option), so those files came from an earlier version; "
    "their names say which option made them. We report random runs beside it.")

# Statistical relevance: analysis_results/statistical_relevance/correlation_table_test.npy
# (5 T = 1000 test files, 400,000 trajectories): class -> statistic -> (Pearson, Spearman).
RELEVANCE = {
    "sub-ATTM": {"AC": (-0.029, -0.021), "CS": (-0.017, -0.017), "SG": (-0.074, -0.076),
                 "VD": (0.028, 0.030)},
    "sub-CTRW": {"AC": (-0.357, -0.381), "CS": (-0.014, -0.005), "SG": (0.350, 0.423),
                 "VD": (-0.183, -0.127)},
    "sub-FBM": {"AC": (-0.218, -0.135), "CS": (-0.129, -0.129), "SG": (0.000, 0.006),
                "VD": (-0.002, -0.002)},
    "sub-SBM": {"AC": (0.000, -0.000), "CS": (-0.000, 0.000), "SG": (0.002, -0.007),
                "VD": (-0.377, -0.380)},
    "super-FBM": {"AC": (0.365, 0.371), "CS": (0.177, 0.212), "SG": (-0.002, 0.001),
                  "VD": (-0.002, -0.002)},
    "super-LW": {"AC": (-0.002, 0.154), "CS": (-0.000, -0.280), "SG": (-0.031, -0.106),
                 "VD": (-0.023, -0.011)},
    "super-SBM": {"AC": (-0.014, -0.015), "CS": (-0.012, -0.013), "SG": (-0.004, -0.006),
                  "VD": (0.336, 0.285)},
    "BM": {"AC": (-0.040, -0.022), "CS": (-0.035, -0.021), "SG": (0.002, 0.000),
           "VD": (0.026, 0.027)},
}

# Layer-wise linear probes: held-out accuracy (%) after block k (T = 1000 model).
PROBES = {1: 89.44, 2: 86.91, 3: 93.24}

# Targeted augmentation + noise (Fig. 5): mean over the 5 models of each arm (%) and the
# s.e.m. over them, analysis_results/augmentation_results/p60_* (targeted) and p100_*
# (random).  The published code adds the noise in place, so its nominal level sigma_k
# carries the noise of all earlier levels: effective std sqrt(sum_{j<=k} sigma_j^2).
_NOMINAL = tuple(round(0.1 * k, 1) for k in range(11))
AUGMENT = {
    "sigma": list(_NOMINAL),
    "targeted": [85.77, 78.75, 76.54, 73.42, 64.87, 49.43, 33.35, 23.35, 18.61, 16.30, 14.99],
    "targeted_sem": [0.38, 0.32, 0.23, 0.47, 1.15, 1.71, 1.66, 1.28, 0.85, 0.59, 0.39],
    "random": [85.66, 78.52, 76.30, 72.21, 62.00, 45.61, 30.39, 21.52, 17.40, 15.50, 14.44],
    "random_sem": [0.36, 0.62, 0.51, 1.36, 2.52, 2.63, 1.46, 0.72, 0.48, 0.38, 0.31],
    "models": 5,
    "note": "noise accumulated across levels in the published code: the effective std at "
            "nominal sigma_k is sqrt(sum_{j<=k} sigma_j^2)",
}
AUGMENT["effective_sigma"] = [round(math.sqrt(sum(s * s for s in _NOMINAL[:k + 1])), 3)
                              for k in range(len(_NOMINAL))]

__all__ = ["ACCURACY", "ATTM_AS_BM", "AUGMENT", "ERASURE", "ERASURE_BASELINE",
           "PER_CLASS_VARYING", "PROBES",
           "RELEVANCE"]
