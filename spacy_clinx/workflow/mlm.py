"""Masked-LM domain adaptation (paper 3.1): continue MLM training of any Hugging Face
masked LM on plain clinical text, with checkpoints that an interrupted run resumes from.

The texts are tokenised once, joined into one stream (documents separated by the
tokenizer's separator) and cut into blocks of ``block_size`` subwords; each step masks
15% of a batch of blocks (BERT's 80/10/10 rule, via transformers' collator), or with
``whole_word_mask`` 15% of the words, all subwords of a chosen word together (a rare name
or record number is then predicted from its context, not from its other pieces). The batch
order is a function of the seed and epoch, and the RNG states are checkpointed, so a
resumed run takes exactly the steps an uninterrupted one would.
"""
import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from tqdm import tqdm
from transformers import DataCollatorForLanguageModeling, DataCollatorForWholeWordMask, get_linear_schedule_with_warmup

from ..atomic import written_aside
from ..device import bf16_fits_this_cpu
from ..model.encoder import load_masked_lm, quiet_transformers, special_tokens

CHECKPOINT = "checkpoint"


@dataclass
class MLMSettings:
    steps: int = 1000
    batch_size: int = 16
    block_size: int = 128
    learn_rate: float = 5e-4
    warmup: float = 0.06
    weight_decay: float = 0.01
    mask_probability: float = 0.15
    whole_word_mask: bool = False
    # the encoder's dropout rate while it learns the masked LM (None: its config's); the saved config
    # keeps its own rate for fine-tuning
    dropout: Optional[float] = None
    cpu_bf16: bool = False
    save_every: int = 200
    heldout_fraction: float = 0.02
    seed: int = 0


Block = Dict[str, List[int]]  # input_ids, and word_ids: the word of each subword in the stream, -1 for none


def text_blocks(tokenizer, texts: Iterable[str], block_size: int) -> List[Block]:
    """Blocks of ``block_size`` ids (special tokens included) from the concatenated texts, with the
    word of each subword (the fast tokenizer's ``word_ids``, numbered across the stream)."""
    prefix, suffix = special_tokens(tokenizer)
    body = block_size - len(prefix) - len(suffix)
    if body < 8:
        raise ValueError(f"block_size {block_size} leaves no room for text")
    separator = [tokenizer.sep_token_id] if tokenizer.sep_token_id is not None else []
    ids: List[int] = []
    words: List[int] = []
    first = 0  # the stream's number of the text's first word
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=False, verbose=False)
        text_words = [-1 if w is None else first + w for w in encoding.word_ids()]
        first = max(text_words + [first - 1]) + 1
        ids.extend(encoding["input_ids"] + separator)
        words.extend(text_words + [-1] * len(separator))
    none = [-1]
    return [{"input_ids": prefix + ids[i : i + body] + suffix,
             "word_ids": none * len(prefix) + words[i : i + body] + none * len(suffix)}
            for i in range(0, len(ids) - body // 2, body)]


def whole_word_masks(word_ids: torch.Tensor, probability: float) -> torch.Tensor:
    """Which subwords to mask: each word of each row (``word_ids`` >= 0) chosen with ``probability``,
    all its subwords with it. A word cut by a block boundary is two words."""
    rows = torch.arange(len(word_ids))[:, None].expand_as(word_ids)
    _, word = torch.unique(torch.stack([rows, word_ids]).flatten(1), dim=1, return_inverse=True)
    chosen = torch.bernoulli(torch.full((int(word.max()) + 1,), probability)).bool()
    return chosen[word].view_as(word_ids) & (word_ids >= 0)


def mlm_collator(tokenizer, settings: "MLMSettings", whole_words: Optional[bool] = None) -> Callable[[List[Block]], dict]:
    """Blocks -> a masked batch: transformers' collator masking subwords, or whole words."""
    if not (settings.whole_word_mask if whole_words is None else whole_words):
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mask_probability)
        return lambda blocks: collator([{"input_ids": b["input_ids"]} for b in blocks])
    if not tokenizer.is_fast:
        raise ValueError("whole_word_mask needs a fast tokenizer (its word_ids); this one is not")
    # transformers' whole-word collator applies BERT's 80/10/10 rule to the subwords it is given;
    # which words are given is ours (its own choice reads BERT's "##" pieces only)
    whole_word_collator = DataCollatorForWholeWordMask(tokenizer, mlm_probability=settings.mask_probability)

    def whole_word_batch(blocks: List[Block]) -> dict:
        length = max(len(b["input_ids"]) for b in blocks)
        pad = lambda values, fill: [v + [fill] * (length - len(v)) for v in values]  # noqa: E731
        input_ids = torch.tensor(pad([b["input_ids"] for b in blocks], tokenizer.pad_token_id))
        attention_mask = torch.tensor(pad([[1] * len(b["input_ids"]) for b in blocks], 0))
        masked = whole_word_masks(torch.tensor(pad([b["word_ids"] for b in blocks], -1)), settings.mask_probability)
        inputs, labels = whole_word_collator.torch_mask_tokens(input_ids, masked.float())
        return {"input_ids": inputs, "attention_mask": attention_mask, "labels": labels}

    return whole_word_batch


def train_mlm(base_model: str, texts: Sequence[str], output: Path, settings: MLMSettings,
              progress: bool = True, device: Optional[torch.device] = None) -> dict:
    """Train, resuming from ``output/checkpoint`` if it exists; save the model to ``output``.
    ``device``: the CPU by default; on CUDA the forward pass runs under bfloat16 autocast, on a CPU
    too with ``settings.cpu_bf16`` where the CPU has fast bfloat16 (AVX-512 or AMX; float32 elsewhere,
    with a warning). Masks are drawn on the CPU either way, so a run resumes the same on any device."""
    output = Path(output)
    checkpoint = output / CHECKPOINT
    resume = (checkpoint / "state.json").exists()
    device = device or torch.device("cpu")
    model, tokenizer = masked_lm_to_train(str(checkpoint if resume else base_model), settings.dropout)
    model.to(device)
    blocks, heldout = training_and_heldout_blocks(tokenizer, texts, settings)
    if len(blocks) < settings.batch_size:
        raise ValueError(f"{len(texts)} texts give only {len(blocks)} training blocks of {settings.block_size} "
                         f"subwords; give more text or lower block_size/batch_size")
    collator = mlm_collator(tokenizer, settings)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learn_rate, weight_decay=settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup * settings.steps), settings.steps)
    step, losses = 0, []
    torch.manual_seed(settings.seed)
    if resume:
        state = json.loads((checkpoint / "state.json").read_text())
        if {**asdict(MLMSettings()), **state["settings"]} != asdict(settings):  # a setting added since: its default
            raise ValueError(f"{checkpoint} was written with other settings ({state['settings']}); delete it "
                             "to start over, or run with the same settings to resume")
        step, losses = state["step"], state["losses"]
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True, map_location=device))
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
        torch.set_rng_state(torch.load(checkpoint / "rng.pt", weights_only=True))
    # held out: always subwords masked, so that encoders trained with either masking compare
    heldout_collator = mlm_collator(tokenizer, settings, whole_words=False)
    heldout_before = heldout_loss(model, heldout_collator, heldout, settings, device) if step == 0 else None
    bf16 = device.type == "cuda" or (settings.cpu_bf16 and bf16_fits_this_cpu())
    model.train()
    bar = tqdm(total=settings.steps, initial=step, desc="MLM", unit="step", disable=not progress)
    while step < settings.steps:
        batch = batch_at(blocks, step, settings)
        losses.append(round(mlm_step(model, collator(batch), optimizer, scheduler, device, bf16, step), 4))
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{numpy.mean(losses[-50:]):.3f}")
        if step % settings.save_every == 0 and step < settings.steps:
            save_checkpoint(model, tokenizer, optimizer, scheduler, checkpoint, step, losses, settings)
    bar.close()
    report = {
        "base_model": base_model,
        "texts": len(texts),
        "train_blocks": len(blocks),
        "heldout_blocks": len(heldout),
        "settings": asdict(settings),
        "heldout_loss_after": heldout_loss(model, heldout_collator, heldout, settings, device),
        "heldout_loss_unigram": heldout_loss(UnigramGuesser(blocks, len(tokenizer)), heldout_collator, heldout,
                                             settings),
        "loss_last_50": float(numpy.mean(losses[-50:])),
    }
    if heldout_before is not None:
        report["heldout_loss_before"] = heldout_before
    model.to("cpu")
    with quiet_transformers():
        model.save_pretrained(output)
        tokenizer.save_pretrained(output)
    (output / "mlm.json").write_text(json.dumps(report, indent=2), encoding="utf8")
    shutil.rmtree(checkpoint, ignore_errors=True)
    return report


# the config settings that set an encoder's dropout rates, by model family
DROPOUT_RATES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout")


def masked_lm_to_train(source: str, dropout: Optional[float] = None):
    """The masked LM and its tokenizer; with ``dropout``, built with every dropout rate of its config
    at that value (attention dropout is a number, not a module, in most attention implementations),
    its config keeping its own rates, which fine-tuning then reads from the saved encoder."""
    model, tokenizer = load_masked_lm(source)
    if dropout is None:
        return model, tokenizer
    own = {key: getattr(model.config, key) for key in DROPOUT_RATES if isinstance(getattr(model.config, key, None), float)}
    model, tokenizer = load_masked_lm(source, **dict.fromkeys(own, dropout))
    model.config.update(own)
    return model, tokenizer


def training_and_heldout_blocks(tokenizer, texts: Sequence[str], settings: MLMSettings) -> Tuple[List[Block], List[Block]]:
    """The texts' blocks in the seed's order, less ``heldout_fraction`` of them (at least one) held out."""
    blocks = text_blocks(tokenizer, texts, settings.block_size)
    random.Random(settings.seed).shuffle(blocks)
    n_heldout = max(1, int(len(blocks) * settings.heldout_fraction))
    return blocks[n_heldout:], blocks[:n_heldout]


def batch_at(blocks: List[Block], step: int, settings: MLMSettings) -> List[Block]:
    """The blocks of update ``step``: each epoch goes through them in an order fixed by the seed and
    the epoch, so that a resumed run takes the batches an uninterrupted one would."""
    epoch, index = divmod(step, len(blocks) // settings.batch_size)
    order = numpy.random.RandomState(settings.seed + epoch).permutation(len(blocks))
    return [blocks[j] for j in order[index * settings.batch_size : (index + 1) * settings.batch_size]]


def mlm_step(model, batch: dict, optimizer, scheduler, device: torch.device, bf16: bool, step: int) -> float:
    """One update on a masked batch: the forward pass (under bfloat16 autocast with ``bf16``), gradients
    clipped to norm 1, AdamW, the schedule. Returns the loss; a non-finite one stops the run."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = masked_lm_loss(model, on_device(batch, device))
    if not torch.isfinite(loss):
        raise FloatingPointError(f"MLM loss is {loss.item()} at step {step}; lower the learning rate")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return loss.item()


class UnigramGuesser(torch.nn.Module):
    """A stand-in for the masked LM that guesses every masked subword from the training blocks'
    subword frequencies (add-one smoothed), its input unseen: the held-out loss an encoder must go
    below to have learned anything from context."""

    def __init__(self, blocks: List[Block], vocab_size: int):
        super().__init__()
        subwords = [i for b in blocks for i, w in zip(b["input_ids"], b["word_ids"]) if w >= 0]  # no special tokens
        counts = torch.bincount(torch.tensor(subwords), minlength=vocab_size)
        self.log_probs = torch.log((counts + 1).double() / (counts.sum() + len(counts))).float()

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, **_) -> SimpleNamespace:
        logits = self.log_probs.expand(input_ids.numel(), -1)
        return SimpleNamespace(loss=torch.nn.functional.cross_entropy(logits, labels.reshape(-1), ignore_index=-100))


def masked_lm_loss(model, batch: dict) -> torch.Tensor:
    """The model's masked-LM loss, with its vocabulary head applied at the masked positions only
    (about 15% of them; the model's own forward pass scores the vocabulary at every position, which
    for a small encoder is a large share of each step). Models whose head is not known here (or that
    are not encoder masked LMs) take their own forward pass."""
    head = getattr(model, "lm_head", None)  # RoBERTa, XLM-R, Longformer
    head = getattr(model, "cls", None) if head is None else head  # BERT
    if not type(model).__name__.endswith("ForMaskedLM") or not isinstance(head, torch.nn.Module):
        return model(**batch).loss
    labels = batch["labels"]
    hidden = model.base_model(**{k: v for k, v in batch.items() if k != "labels"}).last_hidden_state
    chosen = labels != -100
    return torch.nn.functional.cross_entropy(head(hidden[chosen]).float(), labels[chosen])


def on_device(batch, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


@torch.no_grad()
def heldout_loss(model, collator, blocks: List[Block], settings: MLMSettings,
                 device: Optional[torch.device] = None) -> float:
    """Mean masked-LM loss on held-out blocks, with masks drawn from a fixed seed."""
    state = torch.get_rng_state()
    torch.manual_seed(settings.seed + 1)
    model.eval()
    losses = []
    for i in range(0, len(blocks), settings.batch_size):
        batch = collator(blocks[i : i + settings.batch_size])
        losses.append(model(**on_device(batch, device or torch.device("cpu"))).loss.float().item())
    model.train()
    torch.set_rng_state(state)
    return float(numpy.mean(losses))


def save_checkpoint(model, tokenizer, optimizer, scheduler, checkpoint: Path, step: int, losses: List[float],
                    settings: MLMSettings) -> None:
    """Written aside and renamed: a kill mid-save leaves the previous checkpoint."""
    with written_aside(checkpoint) as partial:
        partial.mkdir(parents=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        torch.save(optimizer.state_dict(), partial / "optimizer.pt")
        torch.save(scheduler.state_dict(), partial / "scheduler.pt")
        torch.save(torch.get_rng_state(), partial / "rng.pt")
        (partial / "state.json").write_text(json.dumps({"step": step, "losses": losses, "settings": asdict(settings)}))
