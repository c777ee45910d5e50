"""Helpers for the command-line tests: run ``pyserini-qpeft`` in-process and check its one-line errors."""

from __future__ import annotations

from pyserini_qpeft.cli.main import build_parser, main


def cli(capsys, *args):
    """Run ``pyserini-qpeft ARGS``; returns (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop anything printed before
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, command, *words):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pyserini-qpeft {command}: error: ")
    assert "Traceback" not in err
    for word in words:
        assert str(word) in lines[0]


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def subcommand(name):
    """The argparse parser of ``pyserini-qpeft NAME``."""
    parser = build_parser()
    [sub] = [a for a in parser._subparsers._group_actions if a.dest == "command"]
    return sub.choices[name]


def flag_actions(name):
    """{dest: argparse action} for every option of ``pyserini-qpeft NAME`` (help excluded)."""
    return {a.dest: a for a in subcommand(name)._actions if a.option_strings and a.dest != "help"}
