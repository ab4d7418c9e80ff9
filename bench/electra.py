"""Replaced-token detection (ELECTRA) instead of the masked LM, for a bootstrapped encoder: an
experiment for issue 29, direction 3, before it earns a place in the workflow.

A small generator (a masked LM of a quarter of the encoder's width) fills 15% of the subwords,
masked, with its own samples; the encoder learns to tell, at every position, whether the subword is
the original or a replacement. It learns from every subword of a block, the masked LM from the 15%
it masks, which is why ELECTRA learns more from little compute. The encoder is saved with its
(untrained) masked-LM head, so that the workflow's steps load it as they load the masked LM's.

    python bench/electra.py encoders/cpu/ncbi_disease-init encoders/cpu/electra-ncbi_disease \\
        -t corpus/cpu/ncbi_disease/train.spacy -t corpus/cpu/ncbi_disease/dev.spacy
"""
import copy
import json
import time
from pathlib import Path
from typing import List

import numpy
import torch
import typer
from common import masked_lm_or_fail
from tqdm import tqdm
from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling, get_linear_schedule_with_warmup

from spacy_clinx.cli._util import read_texts
from spacy_clinx.workflow.mlm import batch_at, training_and_heldout_blocks
from spacy_clinx.workflow.profiles import load_profile


def generator_for(encoder_config, width_share: float):
    """A masked LM of the encoder's family, vocabulary and depth at ``width_share`` of its width
    (a family whose masked-LM head is ``lm_head``: XLM-R, RoBERTa, Longformer)."""
    config = copy.deepcopy(encoder_config)
    heads = max(1, int(encoder_config.num_attention_heads * width_share))
    config.hidden_size = heads * (encoder_config.hidden_size // encoder_config.num_attention_heads)
    config.num_attention_heads = heads
    config.intermediate_size = int(encoder_config.intermediate_size * width_share)
    return AutoModelForMaskedLM.from_config(config)


def unmasked(batch: dict) -> torch.Tensor:
    """The batch's subwords before masking (the collator keeps the masked ones as labels)."""
    return torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])


def detection_loss(encoder, head, generator, batch: dict, originals: torch.Tensor, weight: float):
    """The generator's masked-LM loss plus ``weight`` x the encoder's replaced-or-original loss over
    every real subword; returns (loss, generator loss, detection loss, detection accuracy, the share
    of original subwords: the accuracy of answering "original" everywhere)."""
    masked = batch["labels"] != -100
    hidden = generator.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = generator.lm_head(hidden[masked]).float()
    generator_loss = torch.nn.functional.cross_entropy(logits, originals[masked])
    with torch.no_grad():
        sampled = torch.distributions.Categorical(logits=logits).sample()
    corrupted = originals.clone()
    corrupted[masked] = sampled
    replaced = (corrupted != originals).float()
    real = batch["attention_mask"].bool()
    scores = head(encoder(input_ids=corrupted, attention_mask=batch["attention_mask"]).last_hidden_state).squeeze(-1)
    detection = torch.nn.functional.binary_cross_entropy_with_logits(scores[real], replaced[real])
    accuracy = ((scores[real] > 0).float() == replaced[real]).float().mean()
    return generator_loss + weight * detection, generator_loss, detection, accuracy, 1 - replaced[real].mean()


def main(base: Path = typer.Argument(..., exists=True, file_okay=False, help="a bootstrapped encoder (OUTPUT-init)"),
         output: Path = typer.Argument(..., help="where the encoder goes"),
         texts: List[Path] = typer.Option(..., "--texts", "-t", exists=True),
         profile: Path = typer.Option(Path("configs/profiles/cpu.cfg"), exists=True,
                                      help="its [mlm] steps, batch, blocks, rate, warmup, masking share"),
         generator_share: float = typer.Option(0.25, help="the generator's width, a share of the encoder's"),
         weight: float = typer.Option(50.0, help="the detection loss's weight (ELECTRA's 50)"),
         seed: int = typer.Option(0)):
    torch.manual_seed(seed)
    settings = load_profile(profile, seed).mlm
    model, tokenizer = masked_lm_or_fail(base)
    encoder, generator = model.base_model, generator_for(model.config, generator_share)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    blocks, heldout = training_and_heldout_blocks(tokenizer, read_texts(texts), settings)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mask_probability,
                                               mask_replace_prob=1.0, random_replace_prob=0.0)
    collate = lambda bs: collator([{"input_ids": b["input_ids"]} for b in bs])  # noqa: E731
    params = [p for m in (encoder, generator, head) for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=settings.learn_rate, weight_decay=settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup * settings.steps), settings.steps)
    if len(blocks) < settings.batch_size:
        raise typer.BadParameter(f"{len(blocks)} training blocks: fewer than one batch of {settings.batch_size}")
    start, log = time.perf_counter(), []
    encoder.train()
    generator.train()
    for step in tqdm(range(settings.steps), desc="ELECTRA", unit="step"):
        batch = collate(batch_at(blocks, step, settings))
        loss, g, d, acc, original = detection_loss(encoder, head, generator, batch, unmasked(batch), weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        log.append([g.item(), d.item(), acc.item(), original.item()])
    encoder.eval()
    generator.eval()
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        batches = [collate(heldout[i : i + settings.batch_size]) for i in range(0, len(heldout), settings.batch_size)]
        held = [detection_loss(encoder, head, generator, b, unmasked(b), weight)[1:] for b in batches]
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    report = {"base_model": str(base), "objective": "replaced-token detection", "train_blocks": len(blocks),
              "generator_share": generator_share, "weight": weight, "steps": settings.steps,
              "last_50": dict(zip(("generator_loss", "detection_loss", "detection_accuracy", "original_share"),
                                  numpy.mean(log[-50:], axis=0).round(4).tolist())),
              "heldout": dict(zip(("generator_loss", "detection_loss", "detection_accuracy", "original_share"),
                                  numpy.mean([[float(x) for x in h] for h in held], axis=0).round(4).tolist())),
              "seconds": round(time.perf_counter() - start)}
    (output / "electra.json").write_text(json.dumps(report, indent=2), encoding="utf8")
    typer.echo(json.dumps(report))


if __name__ == "__main__":
    typer.run(main)
