"""Training killed mid-run and started again ends with exactly the model of an uninterrupted run."""
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import spacy
import torch
from spacy.tokens import DocBin

from pipelines import SUBPROCESS_ENV, TINY_MODEL
from spacy_clinx.model.architecture import get_tagger
from spacy_clinx.workflow.train_splits import override_args

CONFIG = Path(__file__).parent.parent / "configs" / "es_clinx_ner.cfg"


def command(data, encoder, output):
    overrides = {"paths.train": data, "paths.dev": data, "paths.encoder": encoder, "training.max_epochs": 3,
                 "training.eval_frequency": 2, "training.batcher.size": 1, "training.logger.progress_bar": "false",
                 "training.optimizer.learn_rate.initial_rate": 0.002, "training.optimizer.learn_rate.warmup": 0.2,
                 "training.dropout": 0.1,
                 **{f"components.clinx_ner.model.{k}": v for k, v in TINY_MODEL.items()}}
    return [sys.executable, "-m", "spacy_clinx", "train", str(CONFIG), "--output", str(output),
            *override_args(overrides)]


def weights(path):
    return get_tagger(spacy.load(path).get_pipe("clinx_ner").model).state_dict()


def test_killed_training_resumes_to_the_uninterrupted_model(examples, encoders, tmp_path):
    data = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(data)
    encoder = encoders["xlm-roberta"]
    env = SUBPROCESS_ENV
    subprocess.run(command(data, encoder, tmp_path / "straight"), check=True, capture_output=True, env=env)

    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(command(data, encoder, resumed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    state = resumed / "checkpoint" / "state.pickle"
    while not state.exists():
        assert proc.poll() is None, "training ended before its first checkpoint"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = pickle.loads(state.read_bytes())
    step = saved["step"]
    assert 0 < step < 12
    result = subprocess.run(command(data, encoder, resumed), check=True, capture_output=True, text=True, env=env)
    # the best evaluation before the kill, if any, is said too: train-splits' progress lines carry it on
    so_far = f" (best score so far {saved['best'][0]:.4f} at step {saved['best'][1]})" if saved["best"] else ""
    assert f"Resuming from {resumed / 'checkpoint'} after step {step}{so_far}\n" in result.stdout
    assert not (resumed / "checkpoint").exists()
    for name in ("model-last", "model-best"):
        a, b = weights(tmp_path / "straight" / name), weights(resumed / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_the_final_weights_are_scored_when_eval_frequency_does_not_divide_the_updates(examples, encoders, tmp_path):
    """spaCy's loop scores every eval_frequency updates only; the last updates, at the lowest
    learning rate, must still be scored and be model-best when they score best. The
    untrained weights (after update 0) are not scored."""
    data = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(data)
    args = command(data, encoders["xlm-roberta"], tmp_path / "out")
    epochs = 8
    for key, value in {"eval_frequency": 1000, "max_epochs": epochs, "optimizer.learn_rate.initial_rate": 0.01}.items():
        args[args.index(f"--training.{key}") + 1] = str(value)
    env = SUBPROCESS_ENV
    result = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s*\d+\s+\d+\s", line)]
    updates = epochs * len(examples)
    # spaCy's loop would also score the untrained weights after update 0; that evaluation is skipped
    assert [int(row[1]) for row in rows] == [updates - 1], result.stdout
    assert float(rows[-1][-1]) > 0, result.stdout
    best, last = weights(tmp_path / "out" / "model-best"), weights(tmp_path / "out" / "model-last")
    assert all(torch.equal(best[k], last[k]) for k in best)
