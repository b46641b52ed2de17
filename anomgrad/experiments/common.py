"""Small pieces every experiment uses: derived seeds, progress messages, checks of
inputs, and a description of the machine for reports."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np

from .. import _validate as V
from .._version import __version__

# The experiments' Grad-CAM and evaluation passes run in fp32: the erasure bands and the
# augmentation ranking order cells by their Grad-CAM, which bf16 perturbs by a few per
# cent of a map's range (docs/resandi.md §"Precision"); the trained networks follow
# their recipe's amp.
AMP = "none"


def seed_int(*words) -> int:
    """One 64-bit seed from ``SeedSequence(words)``."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, np.uint64)[0])


def rng(*words) -> np.random.Generator:
    """A numpy Philox generator seeded with ``SeedSequence(words)``."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence([int(w) for w in words])))


def say(progress: bool, msg: str) -> None:
    """A progress message on stderr (when ``progress``)."""
    if progress:
        print(msg, file=sys.stderr, flush=True)


def check_checkpoint(path) -> str:
    """``path`` of an existing checkpoint file (ValueError naming it otherwise)."""
    if not os.path.exists(path):
        raise ValueError(f"checkpoint: {path}: no such file")
    return os.fspath(path)


def hardware() -> dict:
    """What ran this: CPU, cores, memory, GPU, versions."""
    import torch  # lazy: torch (common is imported by torch-free code too)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    gpu = None
    if torch.cuda.is_available():
        gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    commit = None
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
        if commit and subprocess.run(["git", "-C", here, "status", "--porcelain",
                                      "--untracked-files=no", "--", "."],
                                     capture_output=True, text=True, timeout=10).stdout.strip():
            commit += " with uncommitted changes"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "gpu": gpu,
            "torch": str(torch.__version__), "torch_threads": torch.get_num_threads(),
            "anomgrad": str(__version__), "git_commit": commit, "python": platform.python_version(),
            "platform": platform.platform()}


def balanced_rows(labels, per_class: int | None) -> np.ndarray:
    """The first ``per_class`` rows of every class present, in file order (all rows when
    ``per_class`` is None)."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(labels.size)
    per_class = V.check_int("per_class", per_class, 1)
    rows = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


__all__ = ["AMP", "balanced_rows", "check_checkpoint", "hardware", "rng", "say", "seed_int"]
