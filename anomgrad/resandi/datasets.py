"""``ag.datasets``: the ResAnDi dataset API in one namespace (docs/resandi.md §1).

The pieces live by concept: the 8-class task and its seed scheme in
:mod:`anomgrad.resandi.task`, the preprocessing in :mod:`anomgrad.resandi.preprocess`,
the rows and HDF5 files in :mod:`anomgrad.resandi.files`, torch views of the files in
:mod:`anomgrad.resandi.loaders` (loaded on first use: it imports torch).
"""

from .files import (BLOCK_PER_CLASS, FORMAT_NAME, FORMAT_VERSION, DatasetFormatError,
                    check_params, create, inspect, load, make_block, n_blocks, params_json,
                    resandi, write)
from .preprocess import (INPUTS, PREPROCESSING, increments, increments_torch, minmax,
                         minmax_torch, network_input, network_input_torch, normalize_padded,
                         normalize_torch, preprocess, preprocess_torch)
from .task import (CLASS_ALPHA, CLASS_MODELS, CLASS_NAMES, DIM, FAMILIES, FILE_SPLITS,
                   INDEX_SCHEME, LENGTH, MAX_FILE, MAX_PER_CLASS, MAX_REDRAWS, NUM_CLASSES,
                   REDRAW_TAG, SPLITS, SUB_ALPHA, SUPER_ALPHA, T_MIN, check_classes,
                   check_family, check_split, class_draws, generate_class, moving,
                   redraw_seed, still_rows, trajectory_index)


def __getattr__(name):
    if name in ("H5Dataset", "H5Files"):  # torch: imported on first use
        from . import loaders  # lazy: torch

        return getattr(loaders, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BLOCK_PER_CLASS", "CLASS_ALPHA", "CLASS_MODELS", "CLASS_NAMES", "DIM",
           "DatasetFormatError", "FAMILIES", "FILE_SPLITS", "FORMAT_NAME", "FORMAT_VERSION",
           "H5Dataset", "H5Files", "INDEX_SCHEME", "INPUTS", "LENGTH", "MAX_FILE", "MAX_PER_CLASS",
           "MAX_REDRAWS", "NUM_CLASSES", "PREPROCESSING", "REDRAW_TAG", "SPLITS",
           "SUB_ALPHA", "SUPER_ALPHA", "T_MIN", "check_classes", "check_family",
           "check_params", "check_split", "class_draws", "create", "generate_class",
           "increments", "increments_torch", "inspect", "load", "make_block", "minmax",
           "minmax_torch", "moving", "n_blocks", "network_input", "network_input_torch",
           "normalize_padded", "normalize_torch", "params_json", "preprocess",
           "preprocess_torch", "redraw_seed", "resandi", "still_rows", "trajectory_index",
           "write"]
