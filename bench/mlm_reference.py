"""How much a masked-LM-trained encoder learned from context: its held-out loss beside the loss of
guessing each masked subword from the training text's subword frequencies alone.

The held-out blocks are the ones the encoder step held out (the same texts, profile and seed), so
the encoder's figure repeats its ``mlm.json``; encoders written before ``mlm.json`` carried the
reference get it here. An encoder near the reference has learned little beyond word frequencies.

    python bench/mlm_reference.py encoders/cpu/ncbi_disease -t corpus/cpu/ncbi_disease/train.spacy \\
        -t corpus/cpu/ncbi_disease/dev.spacy
"""
import json
from pathlib import Path
from typing import List

import torch
import typer
from common import masked_lm_or_fail

from spacy_clinx.cli._util import read_texts
from spacy_clinx.workflow.mlm import UnigramGuesser, heldout_loss, mlm_collator, training_and_heldout_blocks
from spacy_clinx.workflow.profiles import load_profile


def main(encoder: Path = typer.Argument(..., exists=True, file_okay=False, help="an encoder folder with mlm.json"),
         texts: List[Path] = typer.Option(..., "--texts", "-t", exists=True, help="the texts its encoder step read"),
         profile: Path = typer.Option(Path("configs/profiles/cpu.cfg"), exists=True, help="the profile it was made with"),
         seed: int = typer.Option(0, help="the encoder step's --seed")):
    torch.set_num_threads(1)
    settings = load_profile(profile, seed).mlm
    recorded = json.loads((encoder / "mlm.json").read_text()) if (encoder / "mlm.json").exists() else {}
    model, tokenizer = masked_lm_or_fail(encoder)
    blocks, heldout = training_and_heldout_blocks(tokenizer, read_texts(texts), settings)
    collator = mlm_collator(tokenizer, settings, whole_words=False)
    row = {"encoder": str(encoder), "train_blocks": len(blocks), "heldout_blocks": len(heldout),
           "heldout_loss": heldout_loss(model, collator, heldout, settings),
           "heldout_loss_recorded": recorded.get("heldout_loss_after"),
           "heldout_loss_unigram": heldout_loss(UnigramGuesser(blocks, len(tokenizer)), collator, heldout, settings)}
    typer.echo(json.dumps(row))


if __name__ == "__main__":
    typer.run(main)
