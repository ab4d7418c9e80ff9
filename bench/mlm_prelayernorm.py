"""The workflow's masked LM on a pre-layer-norm encoder (RoBERTa-PreLayerNorm) of a bootstrapped
encoder's sizes and tokenizer: the choice of short from-scratch pretraining recipes, which train
stably at higher rates. An experiment for issue 29, direction 3 (docs/accuracy.md).

    python bench/mlm_prelayernorm.py encoders/cpu/ncbi_disease-init encoders/cpu/preln-lr1e-3-ncbi_disease \\
        -t corpus/cpu/ncbi_disease/train.spacy -t corpus/cpu/ncbi_disease/dev.spacy --learn-rate 1e-3
"""
import json
from dataclasses import replace
from pathlib import Path
from typing import List

import torch
import typer
from common import masked_lm_or_fail
from transformers import AutoModelForMaskedLM, RobertaPreLayerNormConfig

from spacy_clinx.cli._util import read_texts
from spacy_clinx.workflow.mlm import train_mlm
from spacy_clinx.workflow.profiles import load_profile

SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
         "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id")


def main(init: Path = typer.Argument(..., exists=True, file_okay=False, help="a bootstrapped encoder (CORPUS-init)"),
         output: Path = typer.Argument(..., help="where the encoder goes (its initial weights beside it, OUTPUT-init)"),
         texts: List[Path] = typer.Option(..., "--texts", "-t", exists=True),
         profile: Path = typer.Option(Path("configs/profiles/cpu.cfg"), exists=True, help="its [mlm] settings"),
         learn_rate: float = typer.Option(1e-3),
         seed: int = typer.Option(0)):
    corpus = read_texts(texts)  # before anything is written
    settings = replace(load_profile(profile, seed).mlm, learn_rate=learn_rate)
    bootstrapped, tokenizer = masked_lm_or_fail(init)
    torch.manual_seed(seed)
    sizes = bootstrapped.config.to_dict()
    start = output.with_name(output.name + "-init")
    AutoModelForMaskedLM.from_config(RobertaPreLayerNormConfig(**{k: sizes[k] for k in SIZES})).save_pretrained(start)
    tokenizer.save_pretrained(start)
    report = train_mlm(str(start), corpus, output, settings, progress=False)
    typer.echo(json.dumps({k: v for k, v in report.items() if "loss" in k}))


if __name__ == "__main__":
    typer.run(main)
