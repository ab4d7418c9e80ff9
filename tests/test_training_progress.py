"""A split trained side by side with others reports each evaluation on the console, not only in its log."""
import io
import os
import signal
import subprocess
import sys
import time

import spacy
from spacy.util import registry

from spacy_clinx.workflow.training_progress import EvaluationProgress, run_logged

# spaCy's ConsoleLogger table as a split's train.log holds it, after resumable training's line of a
# resumed run (its first row is late; its best evaluation so far was before the interruption)
LOG = """Resuming from training/split3/checkpoint after step 600 (best score so far 0.8000 at step 600)
\x1b[38;5;4mℹ Pipeline: ['clinx_ner']\x1b[0m
E    #       LOSS CLINX...  SPANS_CHAR_F  SPANS_CHAR_P  SPANS_CHAR_R  SCORE 
---  ------  -------------  ------------  ------------  ------------  ------
  2    1200        40152.10         77.10         80.02         74.40    0.77
  3    1800        21000.55         75.93         79.00         73.10    0.76
  4    2400        12000.00         78.65         84.71         73.40    0.79
\x1b[38;5;2m✔ Saved pipeline to output directory\x1b[0m
"""


def test_each_evaluation_row_becomes_one_line_with_the_time_left_at_the_rate_so_far():
    clock = iter([0.0, 600.0, 1200.0, 1800.0])  # started; then one evaluation every 10 minutes
    progress = EvaluationProgress("split3", total=3000, clock=lambda: next(clock))
    said = [s for s in map(progress.line, LOG.splitlines(keepends=True)) if s]
    assert said == [  # spaCy's step 1200 follows 1,201 updates
        "split3: update 1,201 of 3,000 (epoch 2), held-out score 0.77 (best 0.80), 10 min in",
        "split3: update 1,801 of 3,000 (epoch 3), held-out score 0.76 (best 0.80), 20 min in, about 20 min left",
        "split3: update 2,401 of 3,000 (epoch 4), held-out score 0.79 (best 0.80), 30 min in, about 10 min left",
    ]


def test_without_a_known_total_or_a_table_header_nothing_is_guessed():
    progress = EvaluationProgress("split0", clock=lambda: 7200.0)
    assert progress.line("  2    1200        40152.10         77.10         80.02         74.40    0.77\n") is None  # no header yet
    rows = [progress.line(text) for text in LOG.splitlines()]
    assert [s for s in rows if s][-1] == "split0: update 2,401 (epoch 4), held-out score 0.79 (best 0.80), 0 min in"


def test_the_table_spacys_console_logger_writes_is_read():
    """What the training configs' logger (``spacy.ConsoleLogger.v1``) prints today, not a copy of it."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    out = io.StringIO()
    log_step, finalize = registry.get("loggers", "spacy.ConsoleLogger.v1")(progress_bar=False)(nlp, out, out)
    scores = {"ents_f": 0.5, "ents_p": 0.6, "ents_r": 0.4, "ents_per_type": {}}
    log_step({"epoch": 1, "step": 599, "score": 0.5, "other_scores": scores, "losses": {"ner": 12.3},
              "checkpoints": [], "seconds": 1, "words": 100})
    finalize()
    progress = EvaluationProgress("split1", total=1200, clock=lambda: 0.0)
    said = [s for s in map(progress.line, out.getvalue().splitlines()) if s]
    assert said == ["split1: update 600 of 1,200 (epoch 1), held-out score 0.50 (best 0.50), 0 min in"]


def test_a_logged_run_passes_each_line_on_as_it_comes_and_keeps_all_of_them_in_the_log(tmp_path):
    """The child prints a line, then waits (up to 20 s) for the reader to have seen it: output held back
    until the child exits would fail it."""
    seen = tmp_path / "seen"
    child = ("import sys, time, pathlib\n"
             "print('first')\n"
             f"seen = pathlib.Path({str(seen)!r})\n"
             "start = time.time()\n"
             "while not seen.exists():\n"
             "    if time.time() - start > 20: sys.exit(3)\n"
             "    time.sleep(0.05)\n"
             "print('second', file=sys.stderr)\n"
             "sys.exit(5)\n")
    log = tmp_path / "train.log"
    log.write_text("an earlier run\n")
    lines = []

    def on_line(text):
        lines.append(text)
        seen.touch()

    assert run_logged([sys.executable, "-c", child], log, None, on_line) == 5
    assert lines == ["first\n", "second\n"]
    assert log.read_text() == "an earlier run\nfirst\nsecond\n"


def test_a_failing_progress_line_costs_the_line_not_the_training(tmp_path):
    log = tmp_path / "train.log"

    def closed_console(text):
        raise BrokenPipeError("the console went away")

    child = "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.05)\n"
    assert run_logged([sys.executable, "-c", child], log, None, closed_console) == 0
    assert log.read_text() == "0\n1\n2\n"


def test_a_sigterm_to_the_command_stops_the_training_process_it_started(tmp_path):
    """``kill`` (SIGTERM) of a clinx command must not leave its training child running on in the same
    folders: the command's SIGTERM handler unwinds it, and run_logged kills the child on the way out."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys\n"
        "from pathlib import Path\n"
        "from spacy_clinx.cli import exit_on_sigterm\n"
        "from spacy_clinx.workflow.training_progress import run_logged\n"
        "exit_on_sigterm()\n"
        "child = 'import os, time; print(os.getpid(), flush=True); time.sleep(120)'\n"
        f"run_logged([sys.executable, '-c', child], Path({str(tmp_path / 'train.log')!r}), None,\n"
        "           lambda line: print(line, end='', flush=True))\n")], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 128 + signal.SIGTERM
    assert_gone(child)


def test_a_sigterm_stops_trainings_run_in_worker_threads_and_starts_no_queued_one():
    """train_splits runs each training in a worker thread (the distill step's one student too, jobs=1):
    SIGTERM raises in the main thread only, which must kill the running child and start no queued one."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys\n"
        "from spacy_clinx.cli import exit_on_sigterm\n"
        "from spacy_clinx.workflow.train_splits import side_by_side\n"
        "from spacy_clinx.workflow.training_progress import run_child\n"
        "exit_on_sigterm()\n"
        "child = 'import os, time; print(os.getpid(), flush=True); time.sleep(120)'\n"
        "side_by_side(lambda i: run_child([sys.executable, '-c', child], None), [0, 1], 1)\n")],
        stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    started = time.monotonic()
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 128 + signal.SIGTERM and time.monotonic() - started < 30
    assert parent.stdout.read().strip() == ""  # the queued second training never started
    assert_gone(child)


def assert_gone(child: int) -> None:
    """The child is killed and reaped before its parent exits; the kernel may take a moment."""
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError(f"the training child {child} outlived its command")

