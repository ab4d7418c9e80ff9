"""Train one ``clinx_ner`` model per split, skipping finished ones.

Each split trains in its own process (memory is returned between splits) with the resumable
``spacy train`` of :mod:`.resumable_train`, and is marked finished, with its config hash and
settings, only when training exits cleanly: an interrupted run continues the unfinished split
from its last checkpoint, and a changed setting retrains.
"""
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.tokens import DocBin

DONE = "finished.json"


def training_overrides(train: Dict[str, Any], n_train_docs: int, seed: int) -> Dict[str, Any]:
    """``spacy train`` overrides for a profile's [train] budget: the learning rate warms up
    and then decays linearly to 0 at the last step of the last epoch."""
    total = math.ceil(n_train_docs / train["batch_size"]) * train["max_epochs"]
    return {
        "training.batcher.size": train["batch_size"],
        "training.max_epochs": train["max_epochs"],
        "training.max_steps": 0,
        "training.eval_frequency": train["eval_frequency"],
        "training.optimizer.learn_rate.initial_rate": train["learn_rate"],
        "training.optimizer.learn_rate.total_steps": total,
        "training.optimizer.learn_rate.warmup_steps": max(1, int(train["warmup"] * total)),
        "system.seed": seed,
        "training.logger.progress_bar": False,
    }


def override_args(overrides: Dict[str, Any]) -> List[str]:
    """``--section.key value`` arguments for ``spacy train``-style commands (booleans as JSON)."""
    return [a for key, value in overrides.items()
            for a in (f"--{key}", json.dumps(value) if isinstance(value, bool) else str(value))]


def train_splits(config: Path, splits_dir: Path, output: Path, encoder: str, train: Dict[str, Any],
                 seed: int = 0, select: str = "best", gpu_id: int = -1, echo=print) -> List[Path]:
    """Train every ``splits_dir/split*/`` and write ``output/members.json`` (the chosen models)."""
    splits = sorted(splits_dir.glob("split*/train.spacy"), key=lambda p: int(p.parent.name[5:]))
    if not splits:
        raise FileNotFoundError(f"No splits under {splits_dir}: run the splits step first")
    members = []
    for train_path in splits:
        name = train_path.parent.name
        out = output / name
        model = out / f"model-{select}"
        overrides = training_overrides(train, len(DocBin().from_disk(train_path)), seed)
        overrides.update({"paths.train": str(train_path), "paths.dev": str(train_path.parent / "dev.spacy"),
                          "paths.encoder": encoder, "paths.labels": str(splits_dir / "labels.json")})
        run = {"config": hashlib.sha256(Path(config).read_bytes()).hexdigest(), "overrides": overrides}
        if (out / DONE).exists() and (model / "meta.json").exists() and json.loads((out / DONE).read_text()) == run:
            echo(f"{name}: already trained with these settings ({model})")
            members.append(model)
            continue
        (out / DONE).unlink(missing_ok=True)
        echo(f"{name}: training -> {out}")
        command = [sys.executable, "-m", "spacy_clinx", "train", str(config), "--output", str(out),
                   "--gpu-id", str(gpu_id)]
        command += override_args(overrides)
        subprocess.run(command, check=True)
        (out / DONE).write_text(json.dumps(run, indent=2), encoding="utf8")
        members.append(model)
    (output / "members.json").write_text(json.dumps([str(m) for m in members], indent=2), encoding="utf8")
    return members


def read_members(output: Path) -> List[str]:
    path = output / "members.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: train the split models first")
    return json.loads(path.read_text(encoding="utf8"))


def selection(scheme: str, override: Optional[str] = None) -> str:
    """Which checkpoint a split keeps: the best on its held-out part, or the last when its
    dev set is part of its training data (the "all" scheme)."""
    return override or ("last" if scheme == "all" else "best")
