"""Command line: ``python -m spacy_clinx COMMAND`` (also installed as ``clinx``)."""
from pathlib import Path
from typing import List

import spacy
import typer
from spacy.tokens import DocBin

from .corpora import ConversionReport, brat_dir_to_docs
from .tokenizer import create_char_class_tokenizer

app = typer.Typer(help="spacy-clinx: CLIN-X clinical concept extraction for spaCy", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Commands of spacy-clinx."""


@app.command()
def convert(
    inputs: List[Path] = typer.Argument(..., help="brat directories (.txt + .ann), read recursively"),
    output: Path = typer.Option(..., "--output", "-o", help="DocBin file to write (.spacy)"),
    lang: str = typer.Option("es", "--lang", "-l", help="spaCy language code"),
    problems: Path = typer.Option(None, "--problems", help="also write every problem as TSV here"),
    strict: bool = typer.Option(False, "--strict", help="exit with status 1 if any gold entity was not placed"),
) -> None:
    """Convert brat standoff to a spaCy DocBin, reporting every entity that could not be placed."""
    nlp = spacy.blank(lang)
    nlp.tokenizer = create_char_class_tokenizer(nlp)
    report = ConversionReport()
    for path in inputs:
        if not path.is_dir():
            typer.secho(f"{path}: not a directory", fg="red", err=True)
            raise typer.Exit(2)
    db = DocBin(store_user_data=True)
    for doc in brat_dir_to_docs(nlp, inputs, report):
        db.add(doc)
    output.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output)
    for problem in report.problems:
        if problem.kind != "ignored":
            typer.echo(f"  {problem}", err=True)
    if problems:
        problems.write_text("".join(f"{p.path}\t{p.line or ''}\t{p.ann_id or ''}\t{p.kind}\t{p.message}\n"
                                    for p in report.problems), encoding="utf8")
    typer.echo(report.summary())
    typer.echo(f"alignment: {100 * report.alignment_rate:.2f}% of {report.entities} gold entities on token "
               f"boundaries; wrote {report.documents} documents to {output}")
    if strict and report.aligned < report.entities:
        raise typer.Exit(1)


@app.command("init-encoder")
def init_encoder(
    output: Path = typer.Argument(..., help="directory to write the encoder (HF format) to"),
    texts: List[Path] = typer.Option(..., "--texts", "-t", help="directories of .txt files (never test documents)"),
    architecture: str = typer.Option("xlm-roberta", help="xlm-roberta (Unigram), bert (WordPiece) or longformer (BPE)"),
    vocab_size: int = typer.Option(8000, help="subword vocabulary size"),
    hidden_size: int = typer.Option(256),
    num_layers: int = typer.Option(4),
    num_heads: int = typer.Option(4),
    intermediate_size: int = typer.Option(1024),
    seed: int = typer.Option(0),
) -> None:
    """Train a subword tokenizer on clinical text and save a randomly initialised encoder with it."""
    from .encoders import build_encoder, train_tokenizer

    files = sorted(f for d in texts for f in Path(d).rglob("*.txt"))
    if not files:
        typer.secho(f"No .txt files under {', '.join(map(str, texts))}", fg="red", err=True)
        raise typer.Exit(2)
    tokenizer = train_tokenizer((f.read_text(encoding="utf8") for f in files), architecture, vocab_size)
    build_encoder(tokenizer, architecture, output, hidden_size=hidden_size, num_layers=num_layers,
                  num_heads=num_heads, intermediate_size=intermediate_size, seed=seed)
    typer.echo(f"{architecture} encoder ({num_layers} layers, {hidden_size} hidden, vocab {len(tokenizer)}) "
               f"trained on {len(files)} texts: {output}")


if __name__ == "__main__":
    app()
