"""``package``: an installable package of a pipeline, checked in a fresh, offline process."""
from enum import Enum
from pathlib import Path

import typer

from ._util import app, fail


class PackageModel(str, Enum):
    ensemble = "ensemble"
    distilled = "distilled"
    best = "best"


class CpuInference(str, Enum):
    int8 = "int8"
    float32 = "float32"


@app.command("package")
def package_command(
    model: Path = typer.Argument(..., help="pipeline to package, or a training folder of the workflow"),
    output: Path = typer.Argument(..., help="folder for the package source and sdist"),
    pick: PackageModel = typer.Option(PackageModel.ensemble, "--pick", help="for a training folder: its ensemble, "
                                      "the ensemble distilled into one model (after the distill step), or its "
                                      "best split model (by its held-out score); the last two about 5x faster"),
    name: str = typer.Option("clinx_ner", help="package name without the language prefix"),
    version: str = typer.Option("0.1.0"),
    sample: str = typer.Option("", help="text tagged by the installed package as a check (default: a clinical "
                                            "sentence in the pipeline's language)"),
    sample_from: Path = typer.Option(None, help="instead, check on the opening of this DocBin's first document "
                                                "with entities (the workflow: the test set's) and count those found"),
    target: str = typer.Option("", help="pip install --target this folder instead of this environment"),
    cpu_inference: CpuInference = typer.Option(CpuInference.int8, help="how the package predicts on a CPU: ONNX "
                                               "Runtime's int8 (faster; the package requires onnxruntime) or "
                                               "float32 in torch"),
) -> None:
    """spacy package, pip install, then spacy.load(NAME) and nlp.pipe in a fresh, offline process."""
    from spacy.util import load_meta

    from ..workflow.package import SAMPLES, build_and_check, pick_pipeline, sample_from as corpus_sample

    gold = None
    if not sample and sample_from is not None:
        if not sample_from.is_file():
            fail(f"--sample-from {sample_from}: no such DocBin file")
        try:
            sample, gold = corpus_sample(sample_from)
        except ValueError as err:
            fail(str(err))
    try:
        model = pick_pipeline(model, pick.value)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    typer.echo(f"packaging {model}")
    sample = sample or SAMPLES.get(load_meta(model / "meta.json")["lang"], SAMPLES["es"])
    try:
        build_and_check(model, output, name, version, sample, Path(target) if target else None,
                        cpu_inference is CpuInference.int8,
                        echo=typer.echo, gold=gold)
    except (RuntimeError, ValueError) as err:
        fail(str(err))
