"""Entry point of ``pyserini-qpeft``: one subcommand per module, one-line errors, logging set up here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from pyserini_qpeft import __version__
from pyserini_qpeft.cli import evaluate, index, pipeline, rerank, search, train
from pyserini_qpeft.errors import QPEFTError

COMMANDS = (index, search, rerank, train, evaluate, pipeline)


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line (exit status 2), like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pyserini-qpeft", description="Q-PEFT LLM reranking for Pyserini.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _java_error(exc: BaseException) -> str | None:
    # pyjnius raises JavaException for errors thrown in Java (a corrupt index, for instance).
    if type(exc).__name__ == "JavaException":
        return str(exc).splitlines()[0] if str(exc) else "a Java error occurred"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Our own tqdm bars show progress; Hugging Face's weight-loading bars would only add noise.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:  # imported already (e.g. in-process use): the variable came too late
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    from pyserini_qpeft.runs import distributed

    try:
        world = distributed.world_from_env()
    except QPEFTError as exc:
        print(f"pyserini-qpeft {args.command}: error: {exc}", file=sys.stderr)
        return 1
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    where = f" [{world}]" if world.distributed else ""
    if not world.is_main:  # under torchrun rank 0 tells the story; the others speak up only for trouble
        level = max(level, logging.WARNING)
    logging.basicConfig(
        level=level, format=f"%(asctime)s %(levelname)s{where} %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("transformers", "huggingface_hub", "urllib3", "faiss", "faiss.loader", "kivy"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    finished = False
    try:
        if world.distributed:
            distributed.setup(getattr(args, "device", None))
        status = args.handler(args) or 0
        finished = True
        return status
    except QPEFTError as exc:
        print(f"pyserini-qpeft {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pyserini-qpeft {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine's side: a read-only folder, a full disk, a vanished file
        logging.getLogger(__name__).debug("OS error", exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"pyserini-qpeft {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # a Java exception is still the user's input most of the time
        message = _java_error(exc)
        if message is None:
            raise
        print(f"pyserini-qpeft {args.command}: error: {message}", file=sys.stderr)
        return 1
    finally:
        distributed.teardown(wait=finished)


if __name__ == "__main__":
    sys.exit(main())
