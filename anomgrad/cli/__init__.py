"""The ``anomgrad`` command line: thin (parse, call the library, print).

Commands, one module each: ``generate`` (:mod:`.generate`); ``dataset``, ``train``,
``evaluate`` (:mod:`.resandi`); ``gradcam`` (:mod:`.cam`); ``erasure``, ``augment``,
``probes``, ``relevance``, ``reproduce`` (:mod:`.experiments`); ``classify``,
``convert`` (:mod:`.tracks`).  Add one by writing a
function that calls ``sub.add_parser`` with ``set_defaults(func=...)`` and listing it in
:data:`COMMANDS`; common options come from the parent parsers of :mod:`._common`.

Exit status: 0 on success, 2 for a user error (bad argument, unusable file; the message
on stderr names the argument or path), 130 when interrupted.  Set ``ANOMGRAD_DEBUG=1``
to get the traceback instead of the one-line message.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._version import __version__
from . import cam, experiments, generate, resandi, tracks
from ._common import START_OVER, CLIError, Parser

COMMANDS = (generate.add, resandi.add_dataset, resandi.add_train, resandi.add_evaluate,
            cam.add_gradcam, experiments.add_erasure, experiments.add_augment,
            experiments.add_probes, experiments.add_relevance, experiments.add_reproduce,
            tracks.add_classify, tracks.add_convert)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="anomgrad",
        description="Anomalous-diffusion trajectories at speed, ResAnDi and Grad-CAM over time.")
    parser.add_argument("--version", action="version", version=f"anomgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``anomgrad`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, OSError) as e:
        if os.environ.get("ANOMGRAD_DEBUG"):
            raise
        print(f"anomgrad {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # say what a new run does: only some commands resume
        print(f"anomgrad {args.command}: interrupted; "
              f"{getattr(args, 'on_interrupt', START_OVER)}", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "CLIError", "build_parser", "main"]
