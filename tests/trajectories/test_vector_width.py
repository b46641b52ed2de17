"""anomgrad._numba: the kernels at the CPU's full vector width give the same bits, and a
user's own Numba target is left alone."""

import os
import subprocess
import sys

import pytest

CASES = "[('bm', None, 2), ('lw', 1.5, 2), ('sbm', 0.5, 3)]"
HASH = (
    "import hashlib, numpy as np, anomgrad as ag, numba.core.config as c\n"
    "print(c.CPU_FEATURES is not None and c.CPU_FEATURES.endswith(',-prefer-256-bit'))\n"
    f"for m, a, d in {CASES}:\n"
    "    x = ag.generate(m, 64, 300, a, dim=d, seed=5, start=7, dtype=np.float64)\n"
    "    print(m, hashlib.sha256(x.tobytes()).hexdigest())\n"
)


def _run(tmp_path, name, **env):
    e = {k: v for k, v in os.environ.items()
         if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "ANOMGRAD_NUMBA_WIDE")}
    e.update(env, NUMBA_CACHE_DIR=str(tmp_path / name))  # fresh kernels, each setting
    r = subprocess.run([sys.executable, "-c", HASH], capture_output=True, text=True, env=e)
    assert r.returncode == 0, r.stderr
    wide, *hashes = r.stdout.splitlines()
    return wide == "True", hashes


def _has_avx512() -> bool:
    try:
        import llvmlite.binding as ll
        return bool(ll.get_host_cpu_features().get("avx512f"))
    except (ImportError, RuntimeError):
        return False


@pytest.mark.slow
def test_wide_vectors_give_the_same_bits(tmp_path):
    """bm, lw and sbm (normals, power laws, sincos, scale tables: all the vectorised
    math of anomgrad.rng), float64 (float32 is its rounding), compiled with and without
    ``prefer-256-bit``: identical trajectories."""
    wide, a = _run(tmp_path, "wide")
    narrow, b = _run(tmp_path, "narrow", ANOMGRAD_NUMBA_WIDE="0")
    assert wide == _has_avx512()  # set exactly where the CPU has AVX-512
    assert not narrow
    assert a == b and len(a) == 3


def test_a_users_numba_target_stands(tmp_path):
    feats = "+sse2,+avx,+avx2"
    code = ("import anomgrad, numba.core.config as c\n"
            "print(c.CPU_FEATURES, anomgrad._numba.WIDE_FEATURES)")
    e = dict(os.environ, NUMBA_CPU_FEATURES=feats)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [feats, "None"]

