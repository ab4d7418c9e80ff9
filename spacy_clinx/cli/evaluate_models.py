"""``evaluate-models``: test scores of every split model and of the ensemble."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("evaluate-models")
def evaluate_models_command(
    training: Path = typer.Argument(..., help="output of train-splits (holds members.json)"),
    ensemble: Path = typer.Argument(..., help="the ensemble pipeline"),
    data: Path = typer.Argument(..., help="test DocBin"),
    output: Path = typer.Argument(..., help="metrics JSON to write (a .md table goes next to it)"),
    title: str = typer.Option("Test scores"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to predict on; -1: CPU"),
) -> None:
    """Strict char-level scores of every split model and of the ensemble, from one ensemble pass."""
    from ..device import DeviceUnavailable, use_device
    from ..workflow.train_splits import read_members
    from ..workflow.report import evaluate_ensemble_and_members, summary, write_report

    try:
        use_device(gpu_id)
    except DeviceUnavailable as err:
        fail(str(err))

    try:
        names = [Path(m).parent.name for m in read_members(training)]  # the ensemble's members, in order
    except FileNotFoundError as err:
        fail(str(err))
    results = evaluate_ensemble_and_members(ensemble, names, data, echo=typer.echo)
    stats = summary(results, names)
    detail = (f"Median member F1 {100 * stats['median_member_f']:.2f}, best {100 * stats['best_member_f']:.2f}, "
              f"ensemble {100 * results['ensemble']['spans_char_f']:.2f}. Data: {data}.")
    write_report(results, stats, output, output.with_suffix(".md"), title, detail)
    typer.echo(detail)
