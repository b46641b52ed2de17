"""The random-number contract (docs/rng.md): Philox known answers, the derivation of
uniforms and normals, and bit-identity of the Numba and C++ implementations."""

import math

import numpy as np
import pytest
from scipy import stats

from anomgrad import _core, rng
from anomgrad.models._common import seed_words

# Random123 kat_vectors, philox4x32 10: counter, key, expected.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers_core(ctr, key, want):
    assert tuple(_core.host.philox4x32_10(ctr, key)) == want


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers_numba(ctr, key, want):
    got = rng.philox4x32_10(*[np.uint32(c) for c in (*ctr, *key)])
    assert tuple(int(w) for w in got) == want


def test_counter_layout():
    """Block b of stream s of trajectory i under seed is philox((b, s, i_lo, i_hi), (seed_lo, seed_hi))."""
    seed, traj, stream = 0x0123456789ABCDEF, 0xFEDCBA9876543210, 17
    w = rng.words(seed, traj, stream, 12)[0]
    for b in range(3):
        ctr = (b, stream, traj & 0xFFFFFFFF, traj >> 32)
        key = (seed & 0xFFFFFFFF, seed >> 32)
        assert tuple(w[4 * b:4 * b + 4]) == tuple(_core.host.philox4x32_10(ctr, key))


def test_numba_and_cpp_words_identical():
    for seed, traj, stream in [(0, 0, 0), (2**64 - 1, 2**40 + 3, 5), (7, 123456789, 19)]:
        a = rng.words(seed, traj, stream, 64, n_traj=3)
        b = _core.host.words(seed, traj, stream, 64, 3)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed,traj,stream", [(0, 0, 16), (12345, 7, 17), (2**63 + 5, 2**33, 32)])
def test_numba_and_cpp_normals_bit_identical(seed, traj, stream):
    a = rng.normals(seed, traj, stream, 1003, n_traj=4)
    b = _core.host.normals(seed, traj, stream, 1003, 4)
    assert a.tobytes() == b.tobytes()


def test_normal_index_layout():
    """Normal j: block j//4, pair (j%4)//2 = words (2p, 2p+1), cos for even j, sin for odd."""
    seed, traj, stream = 99, 5, 16
    w = rng.words(seed, traj, stream, 8)[0].astype(np.float64)
    z = rng.normals(seed, traj, stream, 8)[0]
    for j in range(8):
        b, p = j // 4, (j % 4) // 2
        u = (w[4 * b + 2 * p] + 0.5) / 2**32
        theta = 2 * math.pi * w[4 * b + 2 * p + 1] / 2**32
        ref = math.sqrt(-2 * math.log(u)) * (math.cos(theta) if j % 2 == 0 else math.sin(theta))
        assert z[j] == pytest.approx(ref, rel=1e-13, abs=1e-14)


def test_uniforms_open_interval_and_formula():
    w = rng.words(3, 0, 0, 4096)[0]
    u = rng.uniforms(3, 0, 0, 4096)[0]
    np.testing.assert_array_equal(u, (w.astype(np.float64) + 0.5) * 2.0**-32)
    assert 0 < u.min() and u.max() < 1
    # extreme words
    assert rng.uniform_of(np.uint32(0)) == 0.5 * 2.0**-32
    assert rng.uniform_of(np.uint32(2**32 - 1)) == 1 - 0.5 * 2.0**-32


def test_log_uniform_accuracy():
    ws = np.concatenate([np.arange(0, 4096), np.arange(2**32 - 4096, 2**32),
                         np.random.default_rng(0).integers(0, 2**32, 20000)]).astype(np.uint32)
    got = np.array([rng.log_uniform.py_func(w) for w in ws[:2000]] + [_core.host.log_uniform(int(w)) for w in ws[2000:]])
    exact = np.log((ws.astype(np.float64) + 0.5) * 2.0**-32)
    np.testing.assert_allclose(got, exact, rtol=4e-16, atol=1e-300)


def test_exp_and_sincos_accuracy():
    x = np.linspace(-700, 700, 20001)
    got = np.array([_core.host.exp_det(float(v)) for v in x])
    np.testing.assert_allclose(got, np.exp(x), rtol=1e-15)
    for w in list(range(0, 2**32, 2**32 // 4099)) + [0, 2**30, 2**31, 3 * 2**30, 2**32 - 1]:
        c, s = _core.host.sincos_word(w)
        th = 2 * math.pi * w / 2**32
        # the reference itself carries the rounding of th (|th| ulp ~ 9e-16)
        assert abs(c - math.cos(th)) < 1e-15 and abs(s - math.sin(th)) < 1e-15


def test_normals_are_standard_normal():
    z = rng.normals(2024, 0, 16, 4000, n_traj=100).ravel()  # 400k draws
    assert abs(z.mean()) < 5 * 1 / math.sqrt(z.size)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / z.size)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # cos and sin halves of a pair are uncorrelated; consecutive normals independent
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / math.sqrt(z.size)


def test_streams_and_trajectories_are_independent():
    a = rng.normals(1, 0, 16, 20000)[0]
    b = rng.normals(1, 0, 17, 20000)[0]
    c = rng.normals(1, 1, 16, 20000)[0]
    d = rng.normals(2, 0, 16, 20000)[0]
    for other in (b, c, d):
        assert abs(np.corrcoef(a, other)[0, 1]) < 5 / math.sqrt(a.size)
        assert not np.array_equal(a, other)


def test_seed_words():
    k0, k1 = seed_words(0x0123456789ABCDEF)
    assert (int(k0), int(k1)) == (0x89ABCDEF, 0x01234567)


def test_stream_ids_agree_with_the_kernels():
    from anomgrad import config

    assert _core.host.STREAMS == {
        "params": config.STREAM_PARAMS, "events": config.STREAM_EVENTS,
        "directions": config.STREAM_DIRECTIONS, "axis": config.STREAM_AXIS,
        "length": config.STREAM_LENGTH, "noise": config.STREAM_NOISE,
        "diffusion": config.STREAM_DIFFUSION}
