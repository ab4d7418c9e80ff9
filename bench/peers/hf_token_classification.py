"""The standard Hugging Face fine-tune as a peer (Devlin et al. style): a linear softmax layer on
each word's first subword, BIO tags, one sentence at a time (no document context, no CRF),
AdamW with linear warm-up and decay.

Training and scoring use the corpus's own words (our tokens, ``is_split_into_words``); the speed
benchmark also runs ``pipeline("token-classification", aggregation_strategy="first", stride=...)``
on whole documents, as a user of the hub would.
"""
import json
import math
import random
import time
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from tqdm import tqdm
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    get_linear_schedule_with_warmup,
)


def read(path: Path) -> List[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf8").splitlines() if line.strip()]


def bio(tag: str) -> str:
    """BIOES -> BIO."""
    return {"E": "I", "S": "B"}.get(tag[0], tag[0]) + tag[1:] if tag != "O" else "O"


def sentence_items(records: List[dict]) -> List[Tuple[List[str], List[str], List[Tuple[int, int]]]]:
    return [([r["text"][a:b] for a, b, _ in s], [bio(t) for _, _, t in s], [(a, b) for a, b, _ in s])
            for r in records for s in r["sentences"]]


def encode(tokenizer, words: List[str], tags: List[str], label_ids: Dict[str, int], max_length: int):
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    labels, previous = [], None
    for word in enc.word_ids():
        labels.append(-100 if word is None or word == previous else label_ids[tags[word]])
        previous = word
    return enc["input_ids"], labels


def train(train_path: Path, dev_path: Path, encoder: str, output: Path, epochs: int = 3, lr: float = 5e-4,
          batch_size: int = 16, seed: int = 0, max_length: int = 256, warmup: float = 0.1,
          weight_decay: float = 0.01) -> Dict:
    """Fine-tune for ``epochs`` and save the last model. The defaults are clinx's budget; the HF
    example's own are ``lr=5e-5, batch_size=8, warmup=0, weight_decay=0``."""
    random.seed(seed)
    torch.manual_seed(seed)
    items = sentence_items(read(train_path))
    labels = ["O"] + sorted({t for _, tags, _ in items for t in tags} - {"O"})
    label_ids = {t: i for i, t in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_ids)
    data = [encode(tokenizer, w, t, label_ids, max_length) for w, t, _ in items]
    steps = math.ceil(len(data) / batch_size) * epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(warmup * steps), steps)
    pad = tokenizer.pad_token_id or 0
    start = time.perf_counter()
    model.train()
    progress = tqdm(total=steps, desc="HF token classification", unit="step")
    for _ in range(epochs):
        random.shuffle(data)
        for i in range(0, len(data), batch_size):
            batch = data[i : i + batch_size]
            length = max(len(ids) for ids, _ in batch)
            ids = torch.tensor([x + [pad] * (length - len(x)) for x, _ in batch])
            mask = torch.tensor([[1] * len(x) + [0] * (length - len(x)) for x, _ in batch])
            gold = torch.tensor([y + [-100] * (length - len(y)) for _, y in batch])
            loss = model(input_ids=ids, attention_mask=mask, labels=gold).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            progress.update(1)
    progress.close()
    seconds = time.perf_counter() - start
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    return {"train_seconds": seconds, "seconds_per_epoch": seconds / epochs, "sentences": len(data)}


def predict(model_dir: Path, test_path: Path, output: Path, batch_size: int = 32, max_length: int = 256) -> Dict:
    """Character spans from first-subword BIO predictions, sentence by sentence."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    labels = model.config.id2label
    records = read(test_path)
    start = time.perf_counter()
    with output.open("w", encoding="utf8") as out, torch.inference_mode():
        for record in records:
            entities = []
            items = sentence_items([record])
            for i in range(0, len(items), batch_size):
                chunk = items[i : i + batch_size]
                enc = tokenizer([w for w, _, _ in chunk], is_split_into_words=True, truncation=True,
                                max_length=max_length, padding=True, return_tensors="pt")
                predicted = model(**enc).logits.argmax(-1).numpy()
                for row, (words, _, offsets) in enumerate(chunk):
                    tags = ["O"] * len(words)
                    previous = None
                    for position, word in enumerate(enc.word_ids(row)):
                        if word is not None and word != previous:
                            tags[word] = labels[int(predicted[row, position])]
                        previous = word
                    entities += bio_entities(tags, offsets)
            out.write(json.dumps({"id": record["id"], "entities": entities}, ensure_ascii=False) + "\n")
    seconds = time.perf_counter() - start
    words = sum(len(r["text"].split()) for r in records)
    return {"predict_seconds": seconds, "words": words, "words_per_s": words / seconds}


def bio_entities(tags: List[str], offsets: List[Tuple[int, int]]) -> List[List]:
    """[start, end, label] for each B(-I)* run; a stray I starts an entity (the usual lenient reading)."""
    entities, current = [], None
    for tag, (a, b) in zip(tags + ["O"], offsets + [(0, 0)]):
        if tag == "O" or tag.startswith("B-") or (current and tag[2:] != current[2]):
            if current:
                entities.append(current)
            current = [a, b, tag[2:]] if tag != "O" else None
        else:
            if current is None:
                current = [a, b, tag[2:]]
            current[1] = b
    return entities


def pipeline_words_per_second(model_dir: Path, texts: List[str], stride: int = 64, batch_size: int = 8) -> float:
    """Whole documents through ``pipeline("token-classification", aggregation_strategy="first")``."""
    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(model_dir), aggregation_strategy="first", stride=stride,
                      device=-1)
    start = time.perf_counter()
    list(tagger(texts, batch_size=batch_size))
    return sum(len(t.split()) for t in texts) / (time.perf_counter() - start)

