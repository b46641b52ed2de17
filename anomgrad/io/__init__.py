"""Files: crash-safe resumable HDF5 tables (:mod:`.h5`), atomic result files
(:mod:`.atomic`) and anomgrad's trajectory files (:mod:`.trajectories`: the format of
``anomgrad generate``, its resumable writer and :func:`read_trajectories`)."""

from .atomic import (WriteError, atomic_savefig, atomic_savez, atomic_torch_save,
                     atomic_write_csv, atomic_write_json, atomic_write_text, read_json,
                     replacing)
from .h5 import (FileFormatError, FileLockedError, Writer, attr_str, attrs_meta,
                 check_allocated, check_space, create_table, exclusive, finish, fmt_bytes,
                 open_h5)
from .trajectories import (FORMAT_NAME, FORMAT_VERSION, create, describe_params,
                           generation_params, inspect, params_json, read_trajectories, write)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FileFormatError", "FileLockedError", "WriteError",
           "Writer", "exclusive", "replacing",
           "atomic_savefig", "atomic_savez", "atomic_torch_save", "atomic_write_csv",
           "atomic_write_json", "atomic_write_text", "attr_str", "attrs_meta",
           "check_allocated", "check_space", "create", "create_table", "describe_params",
           "finish", "fmt_bytes", "generation_params", "inspect", "open_h5", "params_json",
           "read_json", "read_trajectories", "write"]
