"""The numerical precision of ResAnDi's forward passes: ``amp`` = "auto", "bf16" or
"none" (docs/resandi.md §"Precision").

``"auto"`` (the default of training, evaluation, ``classify`` and Grad-CAM) runs the
network under bf16 autocast where the hardware computes bf16 natively and in fp32
elsewhere: a CUDA device that supports bf16, or a CPU whose flags list ``avx512_bf16``
or ``amx_bf16`` (read from ``/proc/cpuinfo``: detected, never assumed; other systems get
fp32).  ``"bf16"`` asks for autocast everywhere (emulated, and slow, on CPUs without
it); ``"none"`` is fp32.  Whatever is chosen, the stem stays in fp32
(:class:`anomgrad.resandi.nn.Stem`): its filters learn near-cancelling differences of
min-max-scaled positions, which bf16's 8-bit mantissa cannot resolve.
"""

from __future__ import annotations

import functools

AMP_CHOICES = ("auto", "bf16", "none")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when ``/proc/cpuinfo`` lists a native bf16 instruction set
    (:data:`CPU_BF16_FLAGS`); False where it does not, or cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in CPU_BF16_FLAGS)
    except OSError:
        pass
    return False


def check_amp(amp) -> str:
    """``amp`` as one of :data:`AMP_CHOICES` (True and False, the older spelling, mean
    "bf16" and "none")."""
    if amp is True or amp is False:
        return "bf16" if amp else "none"
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    return amp


def use_bf16(amp, device) -> bool:
    """Whether ``amp`` means bf16 autocast on ``device``."""
    amp = check_amp(amp)
    if amp != "auto":
        return amp == "bf16"
    import torch  # lazy: torch (recipes and the CLI read AMP_CHOICES without it)

    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return dev.type == "cpu" and cpu_has_native_bf16()


def autocast(device, enabled: bool):
    """bf16 autocast on ``device``'s type when ``enabled`` (a no-op context otherwise)."""
    import torch  # lazy: torch (see use_bf16)

    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bool(enabled))


def precision_name(enabled: bool) -> str:
    """"bf16" or "fp32", as training records and prints it."""
    return "bf16" if enabled else "fp32"


__all__ = ["AMP_CHOICES", "CPU_BF16_FLAGS", "autocast", "check_amp", "cpu_has_native_bf16",
           "precision_name", "use_bf16"]
