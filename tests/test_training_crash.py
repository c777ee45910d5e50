"""Training is crash-consistent: a process killed at any write or rename of a save resumes to the very bytes an
uninterrupted run writes. Each kill is real (``os._exit`` in a forked child, so no cleanup runs), placed by the
save path's own hook (:func:`pyserini_qpeft.files.atomic.set_io_hook`)."""

import json
import os

import pytest
from test_training import make_trainer

from pyserini_qpeft.files.atomic import set_io_hook
from pyserini_qpeft.training.state import BEST, STATE_FILE

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
KILLED = 17


def events_of_a_straight_run(tmp_path, variant):
    """(event, path) of every write and rename of an uninterrupted run, and the bytes it ends with."""
    events = []
    previous = set_io_hook(lambda event, path: events.append((event, str(path))))
    try:
        trainer = make_trainer(tmp_path, variant, name="straight")
        trainer.fit()
    finally:
        set_io_hook(previous)
    return events, final_bytes(trainer)


def final_bytes(trainer):
    best = trainer.best_dir
    state = json.loads((trainer.state_dir / STATE_FILE).read_text())
    history = [(h["epoch"], h["dev_loss"], h.get("train_loss")) for h in state["history"]]
    return {p.name: p.read_bytes() for p in sorted(best.iterdir())}, history, (state["epoch"], state["step"])


def run_killed_at(tmp_path, variant, name, kill_at):
    """Train in a forked child that dies at event ``kill_at`` (1-based); the child's exit code."""
    pid = os.fork()
    if pid == 0:  # the child: train until the hook kills it
        try:
            seen = 0

            def hook(event, path):
                nonlocal seen
                seen += 1
                if seen == kill_at:
                    os._exit(KILLED)

            set_io_hook(hook)
            make_trainer(tmp_path, variant, name=name).fit()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def one_save(events):
    """The indices (0-based) of every write and rename of the second mid-epoch state save and of the best model's
    save at the epoch end that follows it (the epoch end's own state save is the same code as the first)."""
    state_renames = [i for i, (event, path) in enumerate(events) if event == "rename" and path.endswith(STATE_FILE)]
    start = state_renames[0] + 1  # just after the first save switched to its generation
    best = [i for i in range(start, state_renames[2]) if f"/{BEST}/" in events[i][1] or events[i][1].endswith(BEST)]
    return range(start, best[-1] + 1)


@pytest.mark.parametrize("variant", ["r"])  # soft prompt, hint module and the row-sparse optimizer state
def test_a_kill_at_any_write_or_rename_resumes_to_the_uninterrupted_bytes(tmp_path, variant):
    events, expected = events_of_a_straight_run(tmp_path, variant)
    window = one_save(events)
    kinds = {events[i][0] for i in window}
    assert {"write", "rename", "mkdir"} <= kinds and any(BEST in events[i][1] for i in window)
    for index in window:
        name = f"killed{index}"
        assert run_killed_at(tmp_path, variant, name, index + 1) == KILLED, events[index]
        resumed = make_trainer(tmp_path, variant, name=name)
        resumed.resume()
        resumed.fit()
        assert final_bytes(resumed) == expected, events[index]
        leftovers = [p.name for p in resumed.state_dir.iterdir() if p.name.startswith(".")]
        assert leftovers == [], leftovers
