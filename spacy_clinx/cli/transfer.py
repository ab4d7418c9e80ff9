"""``transfer``: a target model trained from a source model's fine-tuned encoder (paper 3.4)."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("transfer", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def transfer_command(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="trained source pipeline (its clinx_ner encoder is reused), or an "
                                  "encoder folder used as it is (the no-transfer baseline)"),
    config: Path = typer.Argument(..., help="training config of the target model"),
    output: Path = typer.Option(..., "--output", "-o", help="folder for model-best, model-last, checkpoint"),
    profile: Path = typer.Option(None, help="apply this workflow profile's [train] budget to --paths.train"),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1),
) -> None:
    """Train a target clinx_ner starting from a source model's fine-tuned encoder; the emission
    layer and CRF are new, for the target labels. Takes `spacy train` overrides; resumable."""
    from spacy.cli._util import parse_config_overrides
    from thinc.api import require_gpu

    from ..transfer.target import transfer_overrides
    from ..workflow.profiles import load_profile
    from ..workflow.resumable_train import train

    if gpu_id >= 0:
        require_gpu(gpu_id)
    overrides = parse_config_overrides(ctx.args)
    try:
        budget = load_profile(profile, seed).train if profile is not None else None
        overrides = transfer_overrides(source, output, overrides, budget, seed, echo=typer.echo)
    except (ValueError, OSError) as err:
        fail(str(err))
    train(config, output, overrides, use_gpu=gpu_id)
