"""Distil the ensemble of the random splits into one clinx_ner, at one model's inference cost.

The student trains on every train+dev document (the random parts together), each carrying the
ensemble's mean CRF marginals (``teach.py``), with the profile's budget and a CRF head whose loss
mixes the gold tags' negative log-likelihood with the cross-entropy against those marginals
(``teacher_weight``). No document is left to select a checkpoint on, so the last one is kept, at
the end of the learning rate's decay, as the ``all`` scheme does. With ``warm_start`` (the profile's
``[distill]``) the student starts from the weights of the ensemble's best member (by its score on its
own held-out part) instead of the bare encoder, and needs a fraction of a fold model's updates.
"""
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

import srsly

from .ensemble import best_by_held_out, saved_members
from .records import fingerprint, read_record, write_record
from .splits import split_scheme
from .teach import teach
from .train_splits import train_splits


def distill(config: Path, ensemble: Path, splits_dir: Path, data_dir: Path, output: Path, encoder: str,
            train: Dict[str, Any], teacher_weight: float, seed: int = 0, gpu_id: int = -1, echo=print) -> Path:
    """Train the student (``output/split0/model-last``) from the ``ensemble`` pipeline of the splits'
    models, with the ``train`` budget (a profile's ``distill``); ``data_dir`` receives its training
    documents. Returns the student's path."""
    scheme = scheme_of(splits_dir)
    if scheme != "random":
        raise ValueError(f"{splits_dir}: distilling needs the random splits (every document in one part), "
                         f"not the {scheme!r} scheme")
    ensemble = Path(ensemble)
    if not (ensemble / "meta.json").exists():
        raise FileNotFoundError(f"{ensemble} is not a pipeline: build the ensemble first")
    parts = sorted(Path(splits_dir).glob("split*/dev.spacy"), key=lambda p: int(p.parent.name[5:]))
    if not parts:
        raise FileNotFoundError(f"{splits_dir}: no split*/dev.spacy parts: run the splits step first")
    if not Path(config).is_file():
        raise FileNotFoundError(f"{config}: no such training config")
    members = saved_members(ensemble)
    for member in members:  # before teaching, which takes a while: the student must learn the splits' labels
        check_labels(member, Path(splits_dir) / "labels.json")
    overrides = {}
    if train.get("warm_start"):
        start = best_by_held_out(members)
        echo(f"the student starts from the weights of {start}, the best member on its held-out part")
        overrides["initialize.after_init"] = {"@callbacks": "spacy_clinx.weights_from_pipeline.v1", "path": str(start)}
    student_data = Path(data_dir) / "split0"
    student_data.mkdir(parents=True, exist_ok=True)
    run = {"ensemble": fingerprint(ensemble), "parts": [fingerprint(p) for p in parts]}
    made = student_data / "teacher.json"
    if not (student_data / "train.spacy").exists() or read_record(made) != run:
        made.unlink(missing_ok=True)
        n = teach(ensemble, parts, student_data / "train.spacy", gpu_id=gpu_id)
        write_record(made, run)  # new marginals are a new train.spacy: train_splits trains the student anew
        echo(f"{n} documents with the marginals of the {ensemble} members -> {student_data / 'train.spacy'}")
    # copy2 keeps the modification times, which the student's record of its inputs holds: a rerun with
    # the same parts resumes or skips the student instead of training it again
    shutil.copy2(parts[0], student_data / "dev.spacy")  # seen in training: it only logs progress
    shutil.copy2(Path(splits_dir) / "labels.json", Path(data_dir) / "labels.json")
    head = {"@misc": "spacy_clinx.crf_head.v2", "teacher_weight": teacher_weight}
    train = {**train, "model": {**dict(train.get("model") or {}), "head": head}}
    (student,) = train_splits(config, Path(data_dir), Path(output), encoder, train, seed, "last", gpu_id, jobs=1,
                              echo=echo, overrides=overrides)
    return student


def distill_step(config: Path, ensemble: Path, splits_dir: Path, data_dir: Path, output: Path, encoder: str,
                 train: Dict[str, Any], teacher_weight: float, test: Optional[Path] = None,
                 metrics: Optional[Path] = None, seed: int = 0, gpu_id: int = -1, echo=print) -> Optional[Path]:
    """The workflow's step: :func:`distill`, then the student's scores on ``test`` written to
    ``metrics`` (spaCy's evaluate). A split scheme of one model (standard, all) has no ensemble to
    learn from: nothing is trained (None), so a workflow can run the step whatever the scheme.
    Either way ``output/distilled.json`` records what the step made (:func:`write_distilled_record`)."""
    scheme = scheme_of(splits_dir)
    record = Path(output) / DISTILLED_RECORD
    if scheme != "random":
        echo(f"nothing to distil: the {scheme!r} split scheme trains one model, not an ensemble of random "
             "splits (the package step packages that model)")
        write_distilled_record(record, scheme, None)
        return None
    if test is not None and not Path(test).is_file():
        raise FileNotFoundError(f"{test}: no such DocBin to score the student on")
    record.unlink(missing_ok=True)  # a failed or killed distill leaves no record for the package step to trust
    student = distill(config, ensemble, splits_dir, data_dir, output, encoder, train, teacher_weight, seed, gpu_id,
                      echo)
    echo(f"distilled student -> {student}")
    if test is not None and metrics is not None:
        from spacy.cli.evaluate import evaluate

        Path(metrics).parent.mkdir(parents=True, exist_ok=True)
        scores = evaluate(str(student), Path(test), output=Path(metrics), use_gpu=gpu_id, spans_key="char")
        echo(f"its scores on {test} -> {metrics} (strict char F1 {scores.get('spans_char_f', 0.0):.4f})")
    write_distilled_record(record, scheme, student)
    return student


DISTILLED_RECORD = "distilled.json"


def write_distilled_record(path: Path, scheme: str, student: Optional[Path]) -> None:
    """What the distill step made: the student and its files' fingerprints, or none for a scheme of one
    model. The package step depends on this file, so it repackages after a new student is trained
    (a record rather than the student's own files, which a one-model scheme never has)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_record(path, {"scheme": scheme, "student": None if student is None else str(student),
                        "trained": None if student is None else fingerprint(student)})


def scheme_of(splits_dir: Path) -> str:
    """The splits folder's scheme, or an error naming what is missing."""
    try:
        return split_scheme(splits_dir)
    except FileNotFoundError:
        raise FileNotFoundError(f"{splits_dir}: no splits.json; run the splits step first") from None
    except (KeyError, ValueError) as err:
        raise ValueError(f"{Path(splits_dir) / 'splits.json'}: not a splits file of the splits step ({err!r})") from None


def check_labels(model: Path, labels: Path) -> None:
    """The teachers' tags are the student's: a member's labels must be the splits' labels."""
    theirs = sorted((srsly.read_json(Path(model) / "meta.json").get("labels") or {}).get("clinx_ner", []))
    ours = sorted(srsly.read_json(labels))
    if theirs != ours:
        raise ValueError(f"{model}: its labels {theirs} are not the splits' {ours} ({labels}); build the ensemble "
                         "again from these splits")
