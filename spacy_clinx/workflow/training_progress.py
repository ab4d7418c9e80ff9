"""Progress of trainings whose output goes to a log: one console line per evaluation.

Split models trained side by side write spaCy's output to their own ``train.log``; without this the
console of a workflow says nothing for the half hour (or more, on a large corpus) of a wave. Each
evaluation row of spaCy's console logger becomes a line: the split, the update of how many, its
held-out score and the time left at the rate so far.
"""
import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Callable, Iterator, List, Optional, Set

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RESUMED = re.compile(r"^Resuming from .* after step \d+ \(best score so far ([0-9.]+)")  # resumable_train's


class EvaluationProgress:
    """Reads a training's output line by line; ``line`` returns a progress line for each evaluation
    row of spaCy's ``ConsoleLogger`` table (after its header: ``E  #  LOSS ...  SCORE``), else None.
    ``total``: the updates the training will make (None: unknown, no time left is given). spaCy
    numbers its steps from 0: the row of step N follows N + 1 updates."""

    def __init__(self, name: str, total: Optional[int] = None, clock: Callable[[], float] = time.monotonic):
        self.name, self.total, self.clock = name, total, clock
        self.started = clock()
        self.columns = 0
        self.best: Optional[float] = None
        self.first: Optional[tuple] = None  # (update, time) of the first row seen: resumed runs start late

    def line(self, text: str) -> Optional[str]:
        plain = ANSI.sub("", text).strip()
        cells = plain.split()
        resumed = RESUMED.match(plain)
        if resumed:
            self.best = float(resumed.group(1))
            return None
        if cells[:2] == ["E", "#"] and cells[-1] == "SCORE":
            self.columns = len(re.split(r"\s{2,}", plain))
            return None
        if not self.columns or len(cells) != self.columns or not cells[0].isdigit() or not cells[1].isdigit() \
                or not all(_is_number(c) for c in cells):
            return None
        epoch, update, score, now = int(cells[0]), int(cells[1]) + 1, float(cells[-1]), self.clock()
        self.best = score if self.best is None else max(self.best, score)
        if self.first is None:
            self.first = (update, now)
        of = f" of {self.total:,}" if self.total else ""
        said = (f"{self.name}: update {update:,}{of} (epoch {epoch}), held-out score {score:.2f} "
                f"(best {self.best:.2f}), {_minutes(now - self.started)} in")
        done, since = update - self.first[0], now - self.first[1]
        if self.total and done > 0 and since > 0 and update < self.total:
            said += f", about {_minutes((self.total - update) * since / done)} left"
        return said


_RUNNING: Set[subprocess.Popen] = set()
_RUNNING_LOCK = Lock()


@contextmanager
def _registered(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        yield process
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)


def kill_children() -> None:
    """Kill the training processes of :func:`run_child` and :func:`run_logged` still running. For the
    main thread of an interrupted command, whose children wait in worker threads: an exception
    raised there (Ctrl-C, SIGTERM) reaches neither them nor their children."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        process.kill()


def run_child(command: List[str], env: Optional[dict]) -> int:
    """Run ``command`` with this process's console; returns its exit code. An interruption of this
    thread, or :func:`kill_children` from another, stops it."""
    with subprocess.Popen(command, env=env) as process, _registered(process):
        try:
            return process.wait()
        except BaseException:
            process.kill()
            raise


def run_logged(command: List[str], log: Path, env: Optional[dict], on_line: Callable[[str], None]) -> int:
    """Run ``command`` with its output appended to ``log``, each line also passed to ``on_line`` as it
    comes (the child's Python output unbuffered, in UTF-8); returns the exit code. A failing
    ``on_line`` (a closed console) costs its progress line, never the training; an interruption
    of this process stops the child too."""
    env = {**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    with log.open("a", encoding="utf8") as stream, \
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                             text=True, encoding="utf8", errors="replace") as process, \
            _registered(process):
        try:
            for text in process.stdout:
                stream.write(text)
                stream.flush()
                try:
                    on_line(text)
                except Exception:  # noqa: BLE001 - progress is a courtesy; the log keeps everything
                    pass
        except BaseException:
            process.kill()
            raise
        return process.wait()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
