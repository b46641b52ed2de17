"""anomgrad._core's CUDA entry points check their arguments and raise ValueError naming
the argument and its range before any CUDA call -- testable without a GPU in a build with
CUDA kernels (null pointers and bad values never reach a kernel)."""

import pytest

pytestmark = pytest.mark.emulation

_core = pytest.importorskip("anomgrad._core")
if not getattr(_core, "built_with_cuda", False):
    pytest.skip("anomgrad._core was built without CUDA kernels", allow_module_level=True)

M = _core.Model


def gen(**kw):
    a = dict(model=M.ctrw, out=0, n=4, dim=2, T=100, out_double=False, alpha=0, alpha_per_traj=False,
             seed=0, start=0, scratch=0, scratch_bytes=0, stream=0)
    a.update(kw)
    _core.generate_cuda(**a)


@pytest.mark.parametrize("kw,match", [
    (dict(model=M(7)), r"model must be a Model id in \[0, 5\].*got 7"),
    (dict(dim=0), r"dim must be 1, 2 or 3, got 0"),
    (dict(dim=4), r"dim must be 1, 2 or 3, got 4"),
    (dict(n=-1), r"n must be >= 0, got -1"),
    (dict(T=0), r"T must be in \[2, 2\*\*32\], got 0"),
    (dict(T=1), r"T must be in \[2, 2\*\*32\], got 1"),
    (dict(T=2**32 + 1), r"T must be in \[2, 2\*\*32\]"),
    (dict(out=0, alpha=4096), r"out is a null device pointer"),
    (dict(out=4096, alpha=0), r"alpha is a null device pointer"),
])
def test_generate_cuda_checks_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        gen(**kw)


def test_generate_cuda_n_zero_needs_no_device():
    gen(n=0)  # nothing to do: no pointer is read, no CUDA call is made


def proc(fn, **kw):
    a = dict(x=4096, out=4096, n=2, dim=2, T=10, is_double=False, off=4096, stream=0)
    extra = {"add_noise_cuda": dict(sigma=4096, seed=0, start=0), "scale_cuda": dict(factor=4096)}.get(fn, {})
    a.update(extra)
    a.update(kw)
    getattr(_core, fn)(**a)


@pytest.mark.parametrize("fn", ["normalize_cuda", "add_noise_cuda", "scale_cuda", "cut_cuda"])
def test_processing_cuda_rejects_T0(fn):
    with pytest.raises(ValueError, match=r"T must be >= 1 .*got 0"):
        proc(fn, T=0)


@pytest.mark.parametrize("fn,kw,match", [
    ("normalize_cuda", dict(n=-1), r"n must be >= 0"),
    ("cut_cuda", dict(dim=0), r"dim must be >= 1"),
    ("normalize_cuda", dict(x=0), r"x is a null device pointer"),
    ("cut_cuda", dict(off=0), r"off is a null device pointer"),
    ("add_noise_cuda", dict(sigma=0), r"sigma is a null device pointer"),
    ("scale_cuda", dict(factor=0), r"factor is a null device pointer"),
])
def test_processing_cuda_checks_arguments(fn, kw, match):
    with pytest.raises(ValueError, match=match):
        proc(fn, **kw)


def cam(**kw):
    a = dict(activations=4096, weights=4096, n=2, K=8, L=4, T=10, relu=False, linear=False, minmax=True,
             cam=4096, cells=0, bands=0, nbands=0, stream=0)
    a.update(kw)
    _core.gradcam_cuda(**a)


@pytest.mark.parametrize("kw,match", [
    (dict(L=0), r"L must be >= 1 .*got 0"),
    (dict(T=0), r"T must be >= 1, got 0"),
    (dict(n=-2), r"n must be >= 0"),
    (dict(nbands=-1), r"nbands must be >= 0"),
    (dict(activations=0), r"activations is a null device pointer"),
])
def test_gradcam_cuda_checks_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        cam(**kw)


def test_rng_cuda_checks_arguments():
    with pytest.raises(ValueError, match="out is a null device pointer"):
        _core.rng_normals_cuda(0, 2, 8, 0, 0, 16, 0)
    with pytest.raises(ValueError, match="multiple of 4"):
        _core.rng_words_cuda(4096, 2, 6, 0, 0, 16, 0)
    with pytest.raises(ValueError, match=">= 0"):
        _core.rng_words_cuda(4096, -1, 8, 0, 0, 16, 0)


def test_fbm_scratch_bytes_checks_arguments():
    with pytest.raises(ValueError, match=r"T must be in \[2, 2\*\*32\]"):
        _core.fbm_scratch_bytes(4, 0)
    with pytest.raises(ValueError, match="n must be >= 0"):
        _core.fbm_scratch_bytes(-1, 100)
    assert _core.fbm_scratch_bytes(0, 100) == 0
