"""``convert``: annotated documents to a DocBin, every entity that could not be placed reported."""
from enum import Enum
from pathlib import Path
from typing import List

import typer

from ._util import app, fail


class CorpusFormat(str, Enum):
    auto = "auto"
    brat = "brat"
    pubtator = "pubtator"
    jsonl = "jsonl"


@app.command()
def convert(
    inputs: List[Path] = typer.Argument(..., help="brat folders (.txt + .ann, read recursively), PubTator files "
                                        "or JSONL files of {text, spans: [{start, end, label}]} (or folders of them)"),
    output: Path = typer.Argument(..., help="DocBin file to write (.spacy)"),
    lang: str = typer.Option("es", "--lang", "-l", help="spaCy language code"),
    fmt: CorpusFormat = typer.Option(CorpusFormat.auto, "--format", "-f", help="input format; auto: detected"),
    problems: Path = typer.Option(None, "--problems", help="also write every problem as TSV here"),
    strict: bool = typer.Option(False, "--strict", help="exit with status 1 if any gold entity was not placed "
                                "or any document could not be read"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="an input that does not exist gives an "
                                       "empty DocBin (the optional dev/ of a user's corpus)"),
) -> None:
    """Convert annotated documents (brat, PubTator, JSONL) to a spaCy DocBin, reporting every entity
    that could not be placed."""
    from ..corpora.convert import ConversionError, convert_corpus, write_empty_docbin, write_problems

    if allow_missing and not any(path.exists() for path in inputs):
        write_empty_docbin(output)
        typer.echo(f"{', '.join(map(str, inputs))} does not exist: wrote an empty DocBin to {output}")
        return
    try:
        report = convert_corpus(inputs, output, lang, fmt.value)
    except ConversionError as err:
        fail(str(err))
    for problem in report.problems:
        if problem.kind != "ignored":
            typer.echo(f"  {problem}", err=True)
    if problems:
        write_problems(report, problems)
    typer.echo(report.summary())
    typer.echo(f"alignment: {100 * report.alignment_rate:.2f}% of {report.entities} gold entities on token "
               f"boundaries; wrote {report.documents} documents to {output}")
    if strict and (report.aligned < report.entities or report.skipped_documents):
        raise typer.Exit(1)
