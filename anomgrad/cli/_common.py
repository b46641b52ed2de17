"""What every command shares: argument types, the checks that name the command-line
argument, the parent parsers of the common options, and messages on stderr."""

from __future__ import annotations

import argparse
import math
import sys

from ..resandi.precision import AMP_CHOICES


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


# what a command interrupted by Ctrl-C says a new run does (``on_interrupt`` default)
START_OVER = "nothing was kept: run the command again to start over"
RESUMES = "run the same command again to resume"


def int_arg(text: str) -> int:
    """An integer: ``1000000``, ``1_000_000`` or ``1e6``."""
    s = text.strip().replace("_", "")
    try:
        return int(s)
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if not math.isfinite(v) or v != int(v) or "e" not in s.lower():
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")
    return int(v)


def float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None


def checked(name: str, fn, *a):
    """Run a check (anomgrad._validate), naming the command-line argument on error."""
    try:
        return fn(*a)
    except (ValueError, TypeError) as e:
        raise CLIError(f"argument {name}: {e}") from None


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse rather than hand it back to the
    system (large blocks from the heap, no trimming): a command that allocates and frees
    arrays of tens of MB chunk after chunk then touches fresh pages once, not per chunk.
    Measured on the development VM, where a first touch is expensive: ``anomgrad
    classify`` of 10,000 tracks 6.35 s -> 5.9 s, peak memory unchanged (the chunks
    bound it).  Only commands call this (they own their process), never the library;
    False (nothing done) where the C library is not glibc."""
    import ctypes  # lazy: only the commands that use it

    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
                    and libc.mallopt(M_TRIM_THRESHOLD, 1 << 31))
    except (OSError, AttributeError):
        return False


def say(args, msg: str) -> None:
    """A message on stderr unless ``--quiet``."""
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``anomgrad CMD: error: ...``, exit 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parent(*adders) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    for add in adders:
        add(p)
    return p


QUIET = _parent(lambda p: p.add_argument("--quiet", "-q", action="store_true",
                                         help="no progress bars or messages"))
DEVICE = _parent(lambda p: p.add_argument("--device", default=None,
                                          help="cuda, cuda:N or cpu (default: cuda if "
                                               "available)"))
SEED = _parent(lambda p: p.add_argument("--seed", type=int_arg, default=0,
                                        help="integer in [0, 2**64) (default 0)"))
OVERWRITE = _parent(lambda p: p.add_argument(
    "--overwrite", action="store_true",
    help="replace existing output (and discard OUT.partial) instead of refusing or resuming"))
AMP = _parent(lambda p: p.add_argument(
    "--amp", choices=AMP_CHOICES, default="auto",
    help="auto (default): bf16 autocast where the hardware computes bf16 natively (CUDA, "
         "CPUs with avx512_bf16/AMX; the stem stays fp32), else fp32; bf16; none (fp32)"))
ANY_FAMILY = _parent(lambda p: p.add_argument(
    "--any-family", action="store_true",
    help="allow a dataset of the other family than the model's"))

__all__ = ["AMP", "ANY_FAMILY", "CLIError", "Parser", "DEVICE", "OVERWRITE", "QUIET", "SEED", "checked",
           "float_arg", "int_arg", "say"]
