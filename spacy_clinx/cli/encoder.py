"""``encoder``: the workflow's encoder, a profile's base model or one bootstrapped from the corpus,
after masked-LM training (``--mlm-steps 0``: none, so a bootstrapped encoder stays randomly initialised)."""
from pathlib import Path
from typing import List, Optional

import typer

from ._util import DEFAULT_PROFILE, app, fail, read_texts

_BOOTSTRAP = "of a bootstrapped encoder; default: the profile's"


@app.command("encoder")
def encoder_command(
    output: Path = typer.Argument(..., help="folder to write the adapted encoder to"),
    texts: List[Path] = typer.Option(..., "--texts", "-t", help="DocBins (.spacy) or folders of .txt files "
                                     "(never test documents)"),
    profile: Path = typer.Option(DEFAULT_PROFILE, help="workflow profile"),
    lang: str = typer.Option("es", help="language, picks the profile's base model"),
    base_model: str = typer.Option("", help="HF hub name or local path; overrides the profile"),
    mlm_steps: int = typer.Option(-1, help="masked-LM steps; -1: the profile's"),
    unlabeled: str = typer.Option("", help="a folder of more .txt files for masked-LM (your own notes); empty: none"),
    exclude: List[Path] = typer.Option([], "--exclude", "-x", help="DocBins or .txt folders of the documents models "
                                       "are scored on: their exact and near duplicates are dropped from --unlabeled"),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU for masked-LM; -1: CPU"),
    architecture: Optional[str] = typer.Option(None, help="xlm-roberta (Unigram), bert (WordPiece) or longformer "
                                               f"(byte-level BPE) {_BOOTSTRAP}"),
    vocab_size: Optional[int] = typer.Option(None, help=f"subword vocabulary size {_BOOTSTRAP}"),
    hidden_size: Optional[int] = typer.Option(None, help=f"hidden size {_BOOTSTRAP}"),
    num_layers: Optional[int] = typer.Option(None, help=f"layers {_BOOTSTRAP}"),
    num_heads: Optional[int] = typer.Option(None, help=f"attention heads {_BOOTSTRAP}"),
    intermediate_size: Optional[int] = typer.Option(None, help=f"feed-forward size {_BOOTSTRAP}"),
) -> None:
    """The encoder for the workflow: the profile's base model (or a bootstrapped small one)
    after masked-LM training on clinical text. Resumes an interrupted MLM run."""
    from ..device import DeviceUnavailable, torch_device
    from ..model.encoder import EncoderLoadError
    from ..workflow.encoder import encoder_profile, make_encoder
    from ..workflow.profiles import load_profile

    try:
        prof = load_profile(profile, seed)
        device = torch_device(gpu_id)
        prof = encoder_profile(prof, base_model, mlm_steps, architecture=architecture, vocab_size=vocab_size,
                               hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
                               intermediate_size=intermediate_size)
        base = prof.base_model(lang, base_model)
    except (FileNotFoundError, DeviceUnavailable, ValueError) as err:
        fail(str(err))
    if unlabeled and not Path(unlabeled).is_dir():
        fail(f"{unlabeled}: not a folder of .txt files (--unlabeled / project var unlabeled_dir)")
    missing = [str(p) for p in exclude if not p.exists()]
    if missing:
        fail(f"{', '.join(missing)}: no such DocBin or folder (--exclude)")
    corpus = read_texts(texts)
    filtered = None
    if unlabeled:
        from ..corpora.near_duplicates import drop_near_duplicates

        filtered = drop_near_duplicates(read_texts([Path(unlabeled)]), read_texts(exclude) if exclude else [])
        typer.echo(f"unlabeled {unlabeled}: {filtered.summary()}")
        corpus += filtered.kept
    try:
        typer.echo(make_encoder(output, corpus, prof, base, seed, device, echo=typer.echo))
    except EncoderLoadError as err:
        fail(str(err))
    record = output / "unlabeled.json"  # what the encoder learned from, beside it
    if filtered is None:
        record.unlink(missing_ok=True)  # from an earlier run with unlabeled notes
    else:
        import srsly

        from ..atomic import written_aside

        with written_aside(record) as path:
            srsly.write_json(path, {"folder": unlabeled, "excluded": [str(p) for p in exclude],
                                    "kept": len(filtered.kept), "exact_duplicates": filtered.exact,
                                    "near_duplicates": filtered.near})
