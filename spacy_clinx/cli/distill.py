"""``distill``: one clinx_ner learning from the ensemble's marginals on all train+dev documents."""
import subprocess
from pathlib import Path

import typer

from ._util import DEFAULT_PROFILE, app, fail


@app.command("distill")
def distill_command(
    config: Path = typer.Argument(..., help="clinx_ner training config"),
    ensemble: Path = typer.Argument(..., help="the ensemble pipeline of the splits' models, to learn from"),
    splits_dir: Path = typer.Argument(..., help="the random splits (their parts are the training documents)"),
    data_dir: Path = typer.Argument(..., help="folder for the student's training documents, with the marginals"),
    output: Path = typer.Argument(..., help="folder for the student (split0/model-last) and distilled.json, the step's record of it"),
    encoder: str = typer.Option(..., help="encoder to fine-tune (output of the encoder step)"),
    profile: Path = typer.Option(DEFAULT_PROFILE),
    teacher_weight: float = typer.Option(0.5, help="share of the loss from the ensemble's marginals (0-1); the "
                                                   "rest from the gold tags"),
    test: Path = typer.Option(None, help="score the student on this DocBin (spacy evaluate) ..."),
    metrics: Path = typer.Option(None, help="... and write its scores here (JSON)"),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1),
) -> None:
    """Teach (the ensemble's mean CRF marginals on every document), then train one student on them
    (and score it on --test)."""
    from ..workflow.distill import distill_step
    from ..workflow.profiles import load_profile

    if not 0.0 < teacher_weight <= 1.0:
        fail(f"--teacher-weight must be above 0 and at most 1, not {teacher_weight}")
    if (test is None) != (metrics is None):
        fail("--test and --metrics go together: the test DocBin and where its scores go")
    try:
        distill_step(config, ensemble, splits_dir, data_dir, output, encoder, load_profile(profile, seed).distill,
                     teacher_weight, test, metrics, seed, gpu_id, echo=typer.echo)
    except (OSError, ValueError, RuntimeError) as err:  # a failed training names its log
        fail(str(err))
    except subprocess.CalledProcessError as err:
        fail(f"the student's training failed with exit code {err.returncode} (its output is above)")
