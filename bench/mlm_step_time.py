"""Time per masked-LM update with the vocabulary scored at every position (the model's own forward
pass) and at the masked positions only (``spacy_clinx.workflow.mlm.masked_lm_loss``), side by side
in one process: the two alternate over the same batches, so a busy machine slows both alike.

    python bench/mlm_step_time.py encoders/cpu/ncbi_disease-init -t corpus/cpu/ncbi_disease/train.spacy
"""
import json
import time
from datetime import date
from pathlib import Path
from typing import List

import torch
import typer
from common import machine, masked_lm_or_fail

from spacy_clinx.cli._util import read_texts
from spacy_clinx.workflow.mlm import masked_lm_loss, mlm_collator, training_and_heldout_blocks
from spacy_clinx.workflow.profiles import load_profile


def main(encoder: Path = typer.Argument(..., exists=True, file_okay=False),
         texts: List[Path] = typer.Option(..., "--texts", "-t", exists=True),
         profile: Path = typer.Option(Path("configs/profiles/cpu.cfg"), exists=True, help="its [mlm] batch and blocks"),
         updates: int = typer.Option(20, help="updates timed per way"),
         threads: int = typer.Option(1)):
    torch.set_num_threads(threads)
    settings = load_profile(profile).mlm
    model, tokenizer = masked_lm_or_fail(encoder)
    model.train()
    blocks, _ = training_and_heldout_blocks(tokenizer, read_texts(texts), settings)
    collator = mlm_collator(tokenizer, settings)
    torch.manual_seed(0)
    batches = [collator(blocks[i * settings.batch_size : (i + 1) * settings.batch_size]) for i in range(updates)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-12)  # the update's cost, not its effect
    ways = {"every position": lambda b: model(**b).loss, "masked positions": lambda b: masked_lm_loss(model, b)}
    seconds = dict.fromkeys(ways, 0.0)
    for loss_of in ways.values():  # one untimed update each: first-call costs fall on neither
        loss_of(batches[0]).backward()
        optimizer.zero_grad()
    for batch in batches:
        for name, loss_of in ways.items():
            start = time.perf_counter()
            loss_of(batch).backward()
            optimizer.step()
            optimizer.zero_grad()
            seconds[name] += time.perf_counter() - start
    typer.echo(json.dumps({"date": str(date.today()), "machine": machine(),
                           "encoder": str(encoder), "threads": threads, "updates": updates,
                           "batch": [settings.batch_size, settings.block_size],
                           "seconds_per_update": {k: round(v / updates, 3) for k, v in seconds.items()},
                           "ratio": round(seconds["masked positions"] / seconds["every position"], 3)}))


if __name__ == "__main__":
    typer.run(main)
