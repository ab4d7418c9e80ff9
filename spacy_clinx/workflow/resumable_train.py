"""``spacy train`` that an interruption does not waste: before every evaluation step the
pipeline weights, the optimizer state (Adam moments, update counts, schedule position) and
the RNG states are saved to ``OUTPUT/checkpoint``; run again with the same config, training
continues there with the same batches, so the result equals that of an uninterrupted run.

spaCy's own loop has no resume; this reuses its pieces (``train_while_improving``, batches,
evaluation, logger, meta) and adds the checkpoint. Two changes to what gets scored: the final
weights always are (``evaluate_final``), the untrained weights after update 0 never are (on a
2-core CPU one evaluation of a held-out part costs about 40 s and selects nothing).
"""
import contextlib
import hashlib
import math
import random
import shutil
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy
import srsly
import torch
from spacy.language import Language
from spacy.schemas import ConfigSchemaTraining
from spacy.training.initialize import init_nlp
from spacy.training.loop import (DIR_MODEL_BEST, DIR_MODEL_LAST, clean_output_dir, create_before_to_disk_callback,
                                 create_evaluation_callback, create_train_batches, train_while_improving, update_meta)
from spacy.util import load_config, registry, resolve_dot_names
from thinc.api import Optimizer, fix_random_seed

from ..atomic import written_aside

CHECKPOINT = "checkpoint"
OPTIMIZER_TABLES = ("mom1", "mom2", "nr_update", "last_seen")


def parameter_owners(nlp: Language) -> List[int]:
    """Ids of every node and shim that owns parameters, in a construction-independent order, so
    that optimizer entries keyed by (id, name) can be mapped onto a rebuilt pipeline."""
    ids = []
    for _, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if hasattr(model, "walk"):
            for node in model.walk():
                ids.append(node.id)
                ids.extend(shim.id for shim in node.shims)
    return ids


def optimizer_state(optimizer: Optimizer, nlp: Language) -> Dict:
    position = {owner: i for i, owner in enumerate(parameter_owners(nlp))}
    tables = {"averages": optimizer.averages or {}, **{t: getattr(optimizer, t) for t in OPTIMIZER_TABLES}}
    return {t: [(position[k[0]], k[1], v) for k, v in table.items() if k[0] in position] for t, table in tables.items()}


def restore_optimizer(optimizer: Optimizer, nlp: Language, state: Dict, steps: int) -> None:
    owners = parameter_owners(nlp)
    for table, entries in state.items():
        target = optimizer.averages if table == "averages" else getattr(optimizer, table)
        if target is None:
            continue
        for pos, name, value in entries:
            target[(owners[pos], name)] = value
    for _ in range(steps):
        optimizer.step_schedules()


class RecordedBatches:
    """Batches that remember Python's RNG state from before each was drawn: drawing the first
    batch of an epoch shuffles, so a resumed run must restore the state from before that."""

    def __init__(self, batches: Iterator):
        self.batches = batches
        self.state_before_last = random.getstate()

    def __iter__(self) -> "RecordedBatches":
        return self

    def __next__(self):
        self.state_before_last = random.getstate()
        return next(self.batches)


def rng_states(python_state) -> Dict:
    return {"python": python_state, "numpy": numpy.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_states(states: Dict) -> None:
    random.setstate(states["python"])
    numpy.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


def save_checkpoint(nlp: Language, optimizer: Optimizer, folder: Path, step: int, best: Optional[Tuple],
                    config_hash: str, python_rng_state) -> None:
    """Written aside and renamed: a kill while saving leaves the previous checkpoint intact."""
    with written_aside(folder) as partial:
        partial.mkdir(parents=True)
        nlp.to_disk(partial / "nlp")
        state = {"step": step, "best": best, "config": config_hash, "optimizer": optimizer_state(optimizer, nlp),
                 "rng": rng_states(python_rng_state)}
        (partial / "state.pickle").write_bytes(srsly.pickle_dumps(state))


def train(config_path: Path, output_path: Path, overrides: Optional[Dict] = None, use_gpu: int = -1, stdout=sys.stdout,
          stderr=sys.stderr) -> Path:
    """Train like ``spacy train CONFIG --output OUTPUT``, resuming from ``OUTPUT/checkpoint``."""
    output_path = Path(output_path)
    output_path.mkdir(parents=True, exist_ok=True)
    config = load_config(config_path, overrides=overrides or {}, interpolate=False)
    config_hash = hashlib.sha256(config.to_str().encode("utf8")).hexdigest()
    checkpoint = output_path / CHECKPOINT
    state = srsly.pickle_loads((checkpoint / "state.pickle").read_bytes()) if (checkpoint / "state.pickle").exists() else None
    if state is not None and state["config"] != config_hash:
        raise ValueError(f"{checkpoint} belongs to a run with another config or overrides; delete it to start "
                         "over, or run with the same settings to resume")
    nlp = init_nlp(config, use_gpu=use_gpu)
    done = 0
    if state is not None:
        nlp.from_disk(checkpoint / "nlp")
        done = state["step"]
        so_far = f" (best score so far {state['best'][0]:.4f} at step {state['best'][1]})" if state["best"] else ""
        stdout.write(f"Resuming from {checkpoint} after step {done}{so_far}\n")
    resolved = nlp.config.interpolate()
    fix_random_seed(resolved["training"]["seed"])
    T = registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    train_corpus, dev_corpus = resolve_dot_names(resolved, [T["train_corpus"], T["dev_corpus"]])
    optimizer = T["optimizer"]
    batches = RecordedBatches(create_train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"]))
    if state is not None:
        for _ in range(done):  # the batches an uninterrupted run has taken so far
            next(batches)
        restore_optimizer(optimizer, nlp, state["optimizer"], done)
        set_rng_states(state["rng"])
    eval_frequency = T["eval_frequency"]
    if done % eval_frequency:
        raise ValueError(f"checkpoint step {done} is not a multiple of eval_frequency {eval_frequency}")
    best = state["best"] if state else None  # (score, step) of the best evaluation so far
    before_to_disk = create_before_to_disk_callback(T["before_to_disk"])

    def before_update(nlp: Language, args: Dict) -> None:
        step = done + args["step"]
        if step > done and step % eval_frequency == 0:
            # the batch of this step is drawn already: keep the RNG state from before it was
            save_checkpoint(nlp, optimizer, checkpoint, step, best, config_hash, batches.state_before_last)
        if T["before_update"]:
            T["before_update"](nlp, {**args, "step": step})

    evaluate = create_evaluation_callback(nlp, dev_corpus, T["score_weights"])
    untrained = done == 0  # spaCy's loop evaluates after the first update: nothing to select there

    def evaluate_trained() -> Tuple[float, Dict]:
        nonlocal untrained
        if untrained:
            untrained = False
            return -math.inf, {}
        return evaluate()

    steps = train_while_improving(
        nlp, optimizer, batches, evaluate_trained,
        dropout=T["dropout"], accumulate_gradient=T["accumulate_gradient"], patience=T["patience"],
        max_steps=max(T["max_steps"] - done, 1) if T["max_steps"] else 0, eval_frequency=eval_frequency,
        exclude=T["frozen_components"], annotating_components=T["annotating_components"],
        before_update=before_update,
    )
    if state is None:
        clean_output_dir(output_path)
    log_step, finalize_logger = T["logger"](nlp, stdout, stderr)

    def record(info: Dict) -> None:
        """Keep an evaluated step: meta, model-last, and model-best if it is the best so far."""
        nonlocal best
        is_best = best is None or info["score"] > best[0]
        if is_best:
            best = (info["score"], info["step"])
        update_meta(T, nlp, info)
        save_model(nlp, optimizer, before_to_disk, output_path, is_best)
        info["output_path"] = str(output_path / DIR_MODEL_LAST)

    last = None
    try:
        for _, info, evaluated in steps:
            info["step"] += done
            if evaluated is not None and done == 0 and info["step"] == 0:
                evaluated = None  # the skipped evaluation of the untrained weights
            if evaluated is not None:
                record(info)
            log_step(info if evaluated is not None else None)
            last = info, evaluated
        if last is not None and last[1] is None:
            info = evaluate_final(nlp, optimizer, evaluate, last[0])
            record(info)
            log_step(info)
    finally:
        finalize_logger()
    if last is None:  # no update ran, so nothing was recorded: keep the weights as model-last
        save_model(nlp, optimizer, before_to_disk, output_path, False)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return output_path / DIR_MODEL_LAST


def evaluate_final(nlp: Language, optimizer: Optimizer, evaluate, info: Dict) -> Dict:
    """spaCy evaluates every ``eval_frequency`` steps only, so the updates after the last of
    those (trained at the lowest learning rate, often the best) would never be scored nor
    selected as model-best; score the final weights too."""
    with nlp.use_params(optimizer.averages) if optimizer.averages else contextlib.nullcontext():
        score, other_scores = evaluate()
    return {**info, "score": score, "other_scores": other_scores,
            "checkpoints": [*info["checkpoints"], (score, info["step"])]}


def save_model(nlp, optimizer, before_to_disk, output_path: Path, is_best: bool) -> None:
    with nlp.use_params(optimizer.averages):
        before_to_disk(nlp).to_disk(output_path / DIR_MODEL_LAST)
    if is_best:
        shutil.rmtree(output_path / DIR_MODEL_BEST, ignore_errors=True)
        shutil.copytree(output_path / DIR_MODEL_LAST, output_path / DIR_MODEL_BEST)
