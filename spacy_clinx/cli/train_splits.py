"""``train-splits``: one clinx_ner per split, finished ones skipped."""
from pathlib import Path

import typer

from ._util import DEFAULT_PROFILE, app, fail


@app.command("train-splits")
def train_splits_command(
    config: Path = typer.Argument(..., help="clinx_ner training config"),
    splits_dir: Path = typer.Argument(..., help="output of the splits step"),
    output: Path = typer.Argument(..., help="folder for one trained pipeline per split"),
    encoder: str = typer.Option(..., help="encoder to fine-tune (output of the encoder step)"),
    profile: Path = typer.Option(DEFAULT_PROFILE),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1),
    jobs: int = typer.Option(0, help="splits to train at once, each logging to its split*/train.log "
                                     "(0: one per CPU core, one on a GPU)"),
) -> None:
    """Train one clinx_ner per split, skipping those already trained."""
    from ..workflow.train_splits import selection, train_splits
    from ..workflow.profiles import load_profile
    from ..workflow.splits import split_scheme

    if jobs < 0:
        fail(f"--jobs must be 0 (one per core) or more, not {jobs}")
    try:
        budget = load_profile(profile, seed).train
        scheme = split_scheme(splits_dir)
        train_splits(config, splits_dir, output, encoder, budget, seed, selection(scheme), gpu_id, jobs,
                     echo=typer.echo)
    except (FileNotFoundError, ValueError) as err:  # no splits yet, or a profile setting of the wrong kind
        fail(str(err))
