"""flair ``SequenceTagger`` with ``TransformerWordEmbeddings(use_context=N)`` and a CRF: the engine of
the original CLIN-X code, as a peer. Runs in its own virtualenv (``bench/work/venv-flair``), so it
imports neither spaCy nor spacy_clinx; data comes and goes as the JSONL of ``exchange.py``.

    python flair_peer.py train TRAIN.jsonl DEV.jsonl ENCODER OUTPUT [--epochs 3 --lr 5e-4 ...]
    python flair_peer.py train ... --epochs 10 --lr 5e-6 --batch-size 4 --chunk-size 1 --context 64 --no-crf  # FLERT
    python flair_peer.py predict OUTPUT/final-model.pt TEST.jsonl PREDICTIONS.jsonl
Both print one JSON line of timings. ``train`` saves a checkpoint after each epoch and, run again,
resumes from it (its timing is the sum over the runs).
"""
import argparse
import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional, Set, Tuple

import torch
from flair.data import Corpus, Sentence
from flair.datasets import FlairDatapointDataset
from flair.embeddings import TransformerWordEmbeddings
from flair.models import SequenceTagger
from flair.trainers import ModelTrainer
from flair.trainers.plugins import LinearSchedulerPlugin, TrainerPlugin


def read(path: str) -> List[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf8").splitlines() if line.strip()]


def bioes_spans(tags: List[str]) -> List[Tuple[int, int, str]]:
    """(first token, last token + 1, label) of each entity in a BIOES tag sequence."""
    spans, start = [], None
    for i, tag in enumerate(tags):
        prefix, label = tag[0], tag[2:]
        if prefix == "S":
            spans.append((i, i + 1, label))
            start = None
        elif prefix == "B":
            start = (i, label)
        elif prefix == "E" and start is not None and start[1] == label:
            spans.append((start[0], i + 1, label))
            start = None
        elif prefix == "O":
            start = None
    return spans


def sentences(records: List[dict], with_labels: bool, known: Optional[Set[str]] = None) -> List[Sentence]:
    """flair sentences linked within each document, so ``use_context`` sees the document. With
    ``known``, entities of other labels are left out (and counted): flair's tagger cannot even score
    a label it has no tag for, as a dev-only label of MEDDOCAN shows."""
    out, unknown = [], Counter()
    for record in records:
        previous = None
        for sent in record["sentences"]:
            s = Sentence([record["text"][a:b] for a, b, _ in sent])
            if with_labels:
                for first, last, label in bioes_spans([tag for _, _, tag in sent]):
                    if known is None or label in known:
                        s[first:last].add_label("ner", label)
                    else:
                        unknown[label] += 1
            s._previous_sentence, s._next_sentence = previous, None
            if previous is not None:
                previous._next_sentence = s
            previous = s
            out.append(s)
    if unknown:
        print(f"left out {sum(unknown.values())} entities of labels not in the training data: {dict(unknown)}",
              flush=True)
    return out


class EpochCheckpoint(TrainerPlugin):
    """Saves model, optimizer, schedule and random state after each epoch (and its dev score), and
    restores them when a run starts again, so that a run split over several sessions follows one warm-up/decay schedule
    (flair's own ``epoch=`` restart builds the schedule anew from step 0 and keeps no optimizer state)."""

    def __init__(self, schedule: LinearSchedulerPlugin, path: Path, state: Optional[dict]):
        super().__init__()
        self.schedule, self.path, self.state = schedule, path, state
        self.seconds = state["seconds"] if state else 0.0

    @TrainerPlugin.hook
    def after_setup(self, **kwargs):  # attached after the schedule, so its scheduler exists
        if self.state:
            self.trainer.optimizer.load_state_dict(self.state["optimizer"])
            self.schedule.scheduler.load_state_dict(self.state["scheduler"])
            self.schedule.store_learning_rate()
            torch.set_rng_state(self.state["torch_rng"])
            random.setstate(self.state["python_rng"])
        self.started = time.perf_counter()

    @TrainerPlugin.hook
    def after_evaluation(self, epoch, **kwargs):  # the epoch's dev score is part of its time
        seconds = self.seconds + time.perf_counter() - self.started
        model = self.model._get_state_dict()
        model["model_card"] = self.model.model_card
        torch.save({"epoch": epoch, "model": model, "optimizer": self.trainer.optimizer.state_dict(),
                    "scheduler": self.schedule.scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                    "python_rng": random.getstate(), "seconds": seconds}, self.path.with_suffix(".tmp"))
        os.replace(self.path.with_suffix(".tmp"), self.path)
        print(f"epoch {epoch} saved to {self.path} ({seconds:.0f} s of training so far)", flush=True)


def train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    train_sentences = sentences(read(args.train), True)
    known = {span.tag for s in train_sentences for span in s.get_spans("ner")}
    corpus = Corpus(train=FlairDatapointDataset(train_sentences),
                    dev=FlairDatapointDataset(sentences(read(args.dev), True, known)), test=None,
                    sample_missing_splits=False)
    checkpoint = Path(args.output) / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=False) if checkpoint.exists() else None
    if state:
        print(f"resuming after epoch {state['epoch']} of {args.epochs} from {checkpoint}", flush=True)
        tagger = SequenceTagger.load(state["model"])
    else:
        embeddings = TransformerWordEmbeddings(args.encoder, layers="-1", subtoken_pooling="first", fine_tune=True,
                                               use_context=args.context)
        tagger = SequenceTagger(hidden_size=256, embeddings=embeddings,
                                tag_dictionary=corpus.make_label_dictionary("ner", add_unk=False), tag_type="ner",
                                tag_format="BIOES", use_crf=args.crf, use_rnn=False, reproject_embeddings=False)
    done = state["epoch"] if state else 0
    if done >= args.epochs:
        tagger.save(Path(args.output) / "final-model.pt")
    else:
        schedule = LinearSchedulerPlugin(warmup_fraction=0.1)  # fine_tune's default
        resume = EpochCheckpoint(schedule, checkpoint, state)
        ModelTrainer(tagger, corpus).fine_tune(args.output, learning_rate=args.lr, mini_batch_size=args.batch_size,
                                               mini_batch_chunk_size=args.chunk_size, max_epochs=args.epochs, epoch=done, save_final_model=True,
                                               attach_default_scheduler=False, plugins=[schedule, resume])
        state = torch.load(checkpoint, weights_only=False)
    print(json.dumps({"train_seconds": state["seconds"], "seconds_per_epoch": state["seconds"] / args.epochs,
                      "sentences": len(corpus.train)}))


def predict(args) -> None:
    torch.set_num_threads(args.threads)
    tagger = SequenceTagger.load(args.model)
    records = read(args.test)
    sents = sentences(records, False)
    words = sum(len(r["text"].split()) for r in records)
    start = time.perf_counter()
    tagger.predict(sents, mini_batch_size=args.batch_size, label_name="predicted")
    seconds = time.perf_counter() - start
    position = 0
    with open(args.output, "w", encoding="utf8") as out:
        for record in records:
            entities = []
            for sent in record["sentences"]:
                for span in sents[position].get_spans("predicted"):
                    first, last = span.tokens[0].idx - 1, span.tokens[-1].idx - 1
                    entities.append([sent[first][0], sent[last][1], span.get_label("predicted").value])
                position += 1
            out.write(json.dumps({"id": record["id"], "entities": entities}, ensure_ascii=False) + "\n")
    print(json.dumps({"predict_seconds": seconds, "words": words, "words_per_s": words / seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(required=True)
    t = commands.add_parser("train")
    for name in ("train", "dev", "encoder", "output"):
        t.add_argument(name)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--context", type=int, default=100)
    t.add_argument("--crf", action=argparse.BooleanOptionalAction, default=True,
                   help="a CRF over the tags (--no-crf: FLERT's recipe, a linear layer and softmax)")
    t.add_argument("--chunk-size", type=int, default=None, help="a mini-batch's forward passes in chunks of this size")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.set_defaults(run=train)
    p = commands.add_parser("predict")
    for name in ("model", "test", "output"):
        p.add_argument(name)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(run=predict)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
