"""Plain-PyTorch versions of the generators with a closed form, the baselines that the
GPU benchmarks and bench/gpu_check.py put beside anomgrad's kernels: Davies-Harte
(circulant embedding) through ``torch.fft`` for FBM, a cumulative sum of scaled normals
for SBM and BM.  They are correct in distribution, not stream for stream."""

import torch


def torch_fbm(n, T, alpha, dim=2, device="cuda"):
    m = T - 1
    M = 2 * m
    k = torch.arange(m + 1, device=device, dtype=torch.float64)
    g = 0.5 * ((k + 1) ** alpha - 2 * k**alpha + (k - 1).abs() ** alpha)
    lam = torch.fft.rfft(torch.cat([g, g[1:-1].flip(0)])).real.clamp_min(0)
    lam = torch.cat([lam, lam[1:-1].flip(0)])
    z = torch.randn(n, M, device=device, dtype=torch.complex64)
    X = torch.fft.fft(z * (lam / M).sqrt().to(torch.float32), dim=-1)[:, :m]
    out = torch.zeros(n, dim, T, device=device)
    out[:, 0, 1:] = X.real.cumsum(-1)
    out[:, 1, 1:] = X.imag.cumsum(-1)
    return out


def torch_sbm(n, T, alpha, dim=2, device="cuda"):
    t = torch.arange(1, T, device=device, dtype=torch.float32)
    s = ((t + 1) ** alpha - t**alpha).sqrt()
    out = torch.zeros(n, dim, T, device=device)
    out[..., 1:] = (torch.randn(n, dim, T - 1, device=device) * s).cumsum(-1)
    return out


BASELINES = {"fbm": torch_fbm, "sbm": torch_sbm,
             "bm": lambda n, T, a, dim=2, device="cuda": torch_sbm(n, T, 1.0, dim, device)}
