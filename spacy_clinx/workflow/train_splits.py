"""Train one ``clinx_ner`` model per split, skipping finished ones.

Each split trains in its own process (memory is returned between splits) with the resumable
``spacy train`` of :mod:`.resumable_train`, and is marked finished, with its config hash and
settings and the files it read, only when training exits cleanly: an interrupted run continues the
unfinished split from its last checkpoint, and a changed setting or input file retrains it from the
start (the checkpoint of other work under the same paths is removed, never resumed).
"""
import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Event, Lock
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from ..atomic import remove
from ..schedules import count_documents, scheduled_updates, updates_per_run
from .records import fingerprint, read_record, write_record
from .resumable_train import CHECKPOINT
from .training_progress import EvaluationProgress, kill_children, run_child, run_logged

DONE = "finished.json"
STARTED = "started.json"
T, R = TypeVar("T"), TypeVar("R")
ECHOED = Lock()


#: where a profile's [train.model] settings sit in the architecture's config
MODEL_SETTINGS = {"token_features": "token_features.attrs", "token_context": "token_features.depth",
                  "centre": "windows.centre", "context": "windows.context"}


def training_overrides(train: Dict[str, Any], seed: int, train_docs: Optional[int] = None) -> Dict[str, Any]:
    """``spacy train`` overrides for a profile's [train] budget: the learning rate warms up over a
    share of the updates and decays linearly to 0 at the last step of the last epoch, or at
    ``max_steps`` when the profile caps the updates and the cap comes first (the config's schedule
    counts the updates from the training corpus); ``train_docs``, the training set's documents, lifts
    that cap to the profile's ``min_epochs`` (:func:`updates_cap`). ``train["model"]`` (a profile's
    ``[train.model]``) sets the clinx_ner model: ``token_features`` (the attributes), ``token_context``
    (the depth of their token-level context) and any setting
    of its architecture, such as ``centre`` and ``context``. ``use_averages`` (default false): evaluate and
    save the optimizer's running averages of the weights (spaCy's parameter averaging)."""
    model = {f"components.clinx_ner.model.{MODEL_SETTINGS.get(key, key)}": value
             for key, value in dict(train.get("model") or {}).items()}
    return {
        **model,
        "training.batcher.size": train["batch_size"],
        "training.max_epochs": train["max_epochs"],
        "training.max_steps": updates_cap(train, train_docs),  # a cap on the updates (0: none), the schedule's too
        "training.eval_frequency": train["eval_frequency"],
        "training.optimizer.learn_rate.initial_rate": train["learn_rate"],
        "training.optimizer.learn_rate.warmup": train["warmup"],
        "training.optimizer.use_averages": train.get("use_averages", False),  # a bool (load_profile checks)
        "system.seed": seed,
        "training.logger.progress_bar": False,
    }


def updates_cap(train: Dict[str, Any], train_docs: Optional[int] = None) -> int:
    """A profile's ``max_steps``, lifted to ``min_epochs`` passes over ``train_docs`` documents where
    those take more updates: a budget of updates sized for one corpus's folds would give a corpus of
    many more documents too few passes over them (or not one)."""
    cap, floor = train.get("max_steps", 0), train.get("min_epochs", 0)
    if not cap or not floor:
        return cap
    if train_docs is None:
        raise ValueError("the profile's min_epochs needs the number of training documents")
    return max(cap, updates_per_run(train_docs, train["batch_size"], floor))


def budget_documents(train: Dict[str, Any], train_path: Path) -> Optional[int]:
    """The documents of a split's training set where its budget counts them (``min_epochs`` under
    ``max_steps``), else None; a file that is no DocBin is a one-line error naming it."""
    if not (train.get("min_epochs") and train.get("max_steps")):
        return None
    try:
        return count_documents(train_path)
    except Exception as err:  # noqa: BLE001 - srsly, zlib and msgpack each raise their own
        raise ValueError(f"{train_path}: not a DocBin of training documents ({type(err).__name__})") from None


def override_args(overrides: Dict[str, Any]) -> List[str]:
    """``--section.key value`` arguments for ``spacy train``-style commands (booleans, lists and blocks as JSON)."""
    return [a for key, value in overrides.items()
            for a in (f"--{key}", json.dumps(value) if isinstance(value, (bool, list, dict)) else str(value))]


def train_splits(config: Path, splits_dir: Path, output: Path, encoder: str, train: Dict[str, Any],
                 seed: int = 0, select: str = "best", gpu_id: int = -1, jobs: int = 0, echo=print,
                 overrides: Optional[Dict[str, Any]] = None) -> List[Path]:
    """Train every ``splits_dir/split*/`` and write ``output/members.json`` (the chosen models).
    ``overrides``: more config settings for every split (e.g. an ``initialize.after_init`` callback).

    With ``jobs`` > 1, that many splits train at once, each writing its log to ``split*/train.log``;
    on a CPU each then gets an equal share of the cores unless ``OMP_NUM_THREADS`` says otherwise.
    ``jobs`` 0: one split per core on a CPU (at most the splits left to train), one on a GPU."""
    splits = sorted(splits_dir.glob("split*/train.spacy"), key=lambda p: int(p.parent.name[5:]))
    if not splits:
        raise FileNotFoundError(f"No splits under {splits_dir}: run the splits step first")
    if jobs < 0:
        raise ValueError(f"jobs must be 0 (one per core) or more, not {jobs}")
    members, pending = [], []
    for train_path in splits:
        name = train_path.parent.name
        out = output / name
        model = out / f"model-{select}"
        settings = {**training_overrides(train, seed, budget_documents(train, train_path)), **(overrides or {}),
                    "paths.train": str(train_path), "paths.dev": str(train_path.parent / "dev.spacy"),
                    "paths.encoder": encoder, "paths.labels": str(splits_dir / "labels.json")}
        inputs = [train_path, train_path.parent / "dev.spacy", splits_dir / "labels.json", Path(encoder)]
        run = {"config": hashlib.sha256(Path(config).read_bytes()).hexdigest(), "overrides": settings,
               "inputs": [fingerprint(p) for p in inputs if p.exists()]}  # a hub name is no file
        members.append(model)
        if (model / "meta.json").exists() and read_record(out / DONE) == run:
            echo(f"{name}: already trained with these settings ({model})")
            continue
        remove(out / DONE)
        start_over_unless_resuming(out, run, name, echo)
        command = [sys.executable, "-m", "spacy_clinx", "train", str(config), "--output", str(out),
                   "--gpu-id", str(gpu_id), *override_args(settings)]
        pending.append((name, out, command, run, planned_updates(train_path, settings)))
    jobs = jobs or auto_jobs(len(pending), gpu_id)
    envs = [parallel_env(jobs, gpu_id, left=len(pending) - i // jobs * jobs) for i in range(len(pending))]  # by wave
    side_by_side(lambda i: _train_one(*pending[i], jobs > 1, envs[i], echo), range(len(pending)), jobs)
    write_members(output, members)
    return members


def planned_updates(train_path: Path, settings: Dict[str, Any]) -> Optional[int]:
    """The updates a split's training makes: its epochs over its documents in batches of
    ``training.batcher.size``, or ``training.max_steps`` (+ 1: spaCy's steps count from 0) when that
    comes first; None when the settings do not say or the split cannot be read (its training
    then fails, naming it: the count only feeds progress lines)."""
    epochs, cap = settings.get("training.max_epochs", 0), settings.get("training.max_steps", 0)
    batch = settings.get("training.batcher.size")
    if (epochs < 1 and not cap) or (epochs >= 1 and not batch):  # the settings do not say
        return None
    try:
        total = scheduled_updates(train_path, batch, epochs, cap)
    except Exception:  # noqa: BLE001 - any unreadable split: its training reports it
        return None
    return total + 1 if cap and total == cap else total  # spaCy stops after step max_steps, counting from 0


def start_over_unless_resuming(out: Path, run: Dict, name: str, echo=print) -> None:
    """A checkpoint resumes only the work it was written by: one of other settings or input files
    (the record of the started run differs) is removed. A checkpoint without a record is left to
    resumable training's own check of the config."""
    started = read_record(out / STARTED)
    if started is not None and started != run and (out / CHECKPOINT).exists():
        remove(out / CHECKPOINT)
        echo(f"{name}: its checkpoint is of other settings or input files; training from the start")
    out.mkdir(parents=True, exist_ok=True)
    write_record(out / STARTED, run)


def side_by_side(work: Callable[[T], R], items: Sequence[T], jobs: int) -> List[Optional[R]]:
    """``work(item)`` for each item, ``jobs`` at a time (threads), results in the items' order. A
    failure stops the items not yet started (their result: None) and is raised; several failures
    (items already running) are raised as one error naming them all."""
    stop = Event()

    def unless_stopped(item: T) -> Optional[R]:
        if stop.is_set():
            return None
        try:
            return work(item)
        except Exception:
            stop.set()
            raise

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        runs = [pool.submit(unless_stopped, item) for item in items]
        errors = [err for err in (r.exception() for r in runs) if err is not None]
    except BaseException:  # this thread interrupted (Ctrl-C, SIGTERM): the running trainings stop too
        stop.set()
        kill_children()
        pool.shutdown(cancel_futures=True)
        raise
    pool.shutdown()
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuntimeError("; ".join(str(err) for err in errors))
    return [r.result() for r in runs]


def auto_jobs(splits: int, gpu_id: int) -> int:
    """Splits trained at once by default: on a CPU one per core (two small models on two cores
    train about 1.5x faster together than one after the other with both cores each; five on two
    cores were no faster in all: time-sliced, each update cost more CPU); one on a GPU."""
    return 1 if gpu_id >= 0 else max(1, min(splits, os.cpu_count() or 1))


def parallel_env(jobs: int, gpu_id: int, left: Optional[int] = None) -> Optional[Dict[str, str]]:
    """Parallel CPU trainings share the cores instead of each taking all of them. ``left``: the splits
    of this one's wave and after (splits start in waves of ``jobs``); a last wave smaller than ``jobs``
    gets a larger share: the last of five on two cores trains mostly alone, so it takes both."""
    if jobs == 1 or gpu_id >= 0 or "OMP_NUM_THREADS" in os.environ:
        return None
    return {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // min(jobs, max(1, left or jobs))))}


def _train_one(name: str, out: Path, command: List[str], run: Dict, total: Optional[int], to_log: bool, env,
               echo) -> None:
    """One split's training process; marked finished only when it exits cleanly. Side by side with
    others (``to_log``), its output goes to its log and each evaluation to the console as one line."""
    if not to_log:
        echo(f"{name}: training -> {out}")
        code = run_child(command, env)
        if code != 0:
            raise subprocess.CalledProcessError(code, command)
    else:
        out.mkdir(parents=True, exist_ok=True)
        log = out / "train.log"
        echo(f"{name}: training -> {out} (log: {log})")
        progress = EvaluationProgress(name, total)

        def relay(text: str) -> None:
            said = progress.line(text)
            if said:
                with ECHOED:  # splits side by side: one whole line at a time
                    echo(said)

        code = run_logged(command, log, env, relay)
        if code != 0:
            raise RuntimeError(f"{name}: training failed with exit code {code}, see {log}")
        echo(f"{name}: finished")
    write_record(out / DONE, run)


def write_members(output: Path, members: Sequence[Path]) -> None:
    """``output/members.json``: the chosen models and their files' fingerprints, so that the file,
    which the later steps of the project depend on, changes whenever a model is retrained (with the
    paths alone a retrained fold model would leave the ensemble, its scores and the distilled model as
    they were)."""
    record = {"members": [str(m) for m in members], "trained": [fingerprint(m) for m in members]}
    write_record(output / "members.json", record)


def read_members(output: Path) -> List[str]:
    """The models of ``output/members.json``."""
    return read_members_record(output)["members"]


def read_members_record(output: Path) -> Dict[str, Any]:
    """``output/members.json`` as :func:`write_members` writes it; one written before it held
    fingerprints (a plain list of the models) has no ``trained``."""
    path = output / "members.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: train the split models first")
    record = json.loads(path.read_text(encoding="utf8"))
    return {"members": record} if isinstance(record, list) else record


def selection(scheme: str, override: Optional[str] = None) -> str:
    """Which checkpoint a split keeps: the best on its held-out part, or the last when its
    dev set is part of its training data (the "all" scheme)."""
    return override or ("last" if scheme == "all" else "best")
