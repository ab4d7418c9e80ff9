"""``train``: ``spacy train``, resumable."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_command(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="training config"),
    output: Path = typer.Option(..., "--output", "-o", help="folder for model-best, model-last, checkpoint"),
    code: Path = typer.Option(None, "--code", "-c", help="Python file with registered functions, as spacy train's"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1: CPU"),
) -> None:
    """Like `spacy train` (same config and --section.key overrides), but resumable: run it again
    after an interruption and it continues from its last checkpoint."""
    from spacy.cli._util import import_code, parse_config_overrides
    from thinc.api import require_gpu

    from ..workflow.resumable_train import train

    if not config.is_file():
        fail(f"{config}: no such config file (e.g. configs/es_clinx_ner.cfg)")
    if code is not None and not code.is_file():
        fail(f"{code}: no such Python file (--code)")
    import_code(code)
    if gpu_id >= 0:
        require_gpu(gpu_id)
    train(config, output, parse_config_overrides(ctx.args), use_gpu=gpu_id)
