"""Ctrl-C says what a new run does: the commands that resume say so, the others say that
nothing was kept (issue 20, item 6)."""

import pytest

from anomgrad import cli


@pytest.mark.parametrize("argv,says", [
    (["classify", "x.csv"], "nothing was kept"),
    (["convert", "x.csv", "--to", "y.h5"], "nothing was kept"),
    (["generate", "--model", "bm", "--n", "2", "--T", "10", "--out", "g.h5"], "resume from OUT.partial"),
    (["train", "--family", "varying", "--out", "r"], "with --resume"),
])
def test_interrupt_message_matches_what_the_command_does(monkeypatch, capsys, argv, says):
    parser = cli.build_parser()
    args = parser.parse_args(argv)

    def boom(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices[argv[0]].set_defaults(func=boom)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and says in err
    assert args.func is not None
