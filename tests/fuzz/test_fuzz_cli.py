"""Every command line, fuzzed from the parser itself: any argv ends with exit 0 or with
exit 2 and one error line naming the argument (or argparse's usage error), never a
traceback.  The library calls behind the commands are stubbed (they raise ``Reached``):
what is under test is parsing and validation; the library's own checks are fuzzed in
test_fuzz_api.py.  ``anomgrad generate`` runs for real on tiny sizes."""

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anomgrad import cli


class Reached(Exception):
    """The command got past parsing and validation into the library."""


def _stub(*a, **k):
    raise Reached


STUBS = [("anomgrad.resandi.datasets", "write"), ("anomgrad.resandi.train", "train"),
         ("anomgrad.resandi.evaluate", "evaluate"), ("anomgrad.cam", "run_file"),
         ("anomgrad.experiments.erasure", "erasure_experiment"),
         ("anomgrad.experiments.augment", "run"), ("anomgrad.experiments.probes", "run"),
         ("anomgrad.experiments.relevance", "relevance_experiment"),
         ("anomgrad.experiments.pipeline", "reproduce"), ("anomgrad.tracks.classify", "classify"),
         ("anomgrad.io.convert", "save_tracks")]


def _subparsers():
    parser = cli.build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _options(name, required: bool):
    """(option strings, takes a value, choices, nargs) of the required (positional or
    required=True) or the optional arguments of a command."""
    out = []
    for a in _subparsers()[name]._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        if (not a.option_strings or a.required) == required:
            out.append((a.option_strings, a.nargs != 0, a.choices, a.nargs))
    return out


COMMANDS = sorted(_subparsers())


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "text.csv").write_text("a,b\n1,2\n")
    (d / "empty.h5").write_bytes(b"")
    return {"dir": str(d), "file": str(d / "text.csv"), "empty": str(d / "empty.h5"),
            "missing": str(d / "missing.h5"), "out": str(d / "out.h5")}


@st.composite
def argv(draw, places):
    cmd = draw(st.sampled_from(COMMANDS))
    values = st.sampled_from(["0", "1", "3", "-1", "1e2", "1.5", "abc", "", "nan", "inf", "bm",
                              "fbm", "0.5",
                              "2", "0.1", places["dir"], places["file"], places["empty"],
                              places["missing"], places["out"]])
    args = [cmd]
    optional = st.lists(st.sampled_from(_options(cmd, False)), max_size=6)
    for opts, takes, choices, nargs in _options(cmd, True) + draw(optional):
        if opts:
            args.append(draw(st.sampled_from(opts)))
        if takes:
            k = 2 if nargs == 2 else (draw(st.integers(1, 2)) if nargs in ("+", "*") else 1)
            pool = st.sampled_from(list(choices)) if choices and draw(st.booleans()) else values
            args += [str(draw(pool)) for _ in range(k)]
    return args


@pytest.fixture
def stubbed(monkeypatch):
    import importlib

    for mod, attr in STUBS:
        monkeypatch.setattr(importlib.import_module(mod), attr, _stub)


def test_every_command_is_fuzzed():
    assert set(COMMANDS) == {"generate", "dataset", "train", "evaluate", "gradcam", "erasure",
                             "augment", "probes", "relevance", "reproduce", "classify",
                             "convert"}


@given(data=st.data())
def test_any_command_line_ends_cleanly(data, places, stubbed, capsys, monkeypatch):
    monkeypatch.chdir(places["dir"])
    args = data.draw(argv(places))
    capsys.readouterr()
    try:
        rc = cli.main(args)
    except Reached:
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err, (args, err)
    assert rc in (0, 2), (args, rc, err)
    if rc == 2:
        assert err.count("\n") == 1 and "error:" in err, (args, err)  # one line


@given(model=st.sampled_from(["fbm", "ctrw", "lw", "attm", "sbm", "bm", "fmb"]),
       n=st.integers(-1, 20), T=st.integers(0, 60), alpha=st.one_of(st.none(), st.floats(-1, 3)),
       dim=st.integers(0, 4), seed=st.integers(-1, 2**64), dtype=st.sampled_from(["float32", "float64"]))
def test_generate_command_writes_what_the_library_gives(tmp_path_factory, capsys, model, n, T,
                                                        alpha, dim, seed, dtype):
    import numpy as np

    import anomgrad as ag
    from anomgrad.io import read_trajectories

    out = tmp_path_factory.mktemp("g") / "x.h5"
    args = ["generate", "--model", model, "--n", str(n), "--T", str(T), "--dim", str(dim),
            "--seed", str(seed), "--dtype", dtype, "--out", str(out), "-q"]
    if alpha is not None:
        args += [f"--alpha={alpha!r}"]
    rc = cli.main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    try:
        want = ag.generate(model, n, T, alpha, dim=dim, seed=seed, dtype=dtype)
    except (ValueError, TypeError):
        assert rc == 2 and err.count("\n") == 1 and "error: argument --" in err, err  # one line
        return
    assert rc == 0, err
    x, meta = read_trajectories(out)
    np.testing.assert_array_equal(x, want)
