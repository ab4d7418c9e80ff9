"""Where a transfer run's encoder comes from: a trained source pipeline's fine-tuned encoder
(exported once into the run's folder), or an encoder folder used as it is (the baseline).

``transfer.json`` in the run's folder names the source; a run started with another source
begins again from scratch, so a resumed checkpoint never mixes two sources."""
import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from ..schedules import count_documents
from ..workflow.train_splits import training_overrides
from .encoder_export import export_encoder


def prepare_encoder(source: Path, output: Path, echo=print) -> Path:
    """The encoder folder the target model starts from."""
    source = Path(source)
    if str(source) in ("", "."):
        raise ValueError("no source model given (project var transfer_source)")
    pipeline = (source / "config.cfg").exists()
    if not pipeline and not (source / "config.json").exists():
        raise ValueError(f"{source}: neither a trained pipeline (config.cfg) nor a Hugging Face encoder folder "
                         "(config.json)")
    record = output / "transfer.json"
    if record.exists() and json.loads(record.read_text())["source"] != str(source.resolve()):
        echo(f"{output} was trained from another source: starting over")
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    encoder = output / "source-encoder" if pipeline else source
    if pipeline and not (encoder / "config.json").exists():
        export_encoder(source, encoder)
    record.write_text(json.dumps({"source": str(source.resolve()), "encoder": str(encoder)}, indent=1),
                      encoding="utf8")
    return encoder


def transfer_overrides(source: Path, output: Path, overrides: Dict[str, Any], budget: Optional[Dict[str, Any]] = None,
                       seed: int = 0, echo=print) -> Dict[str, Any]:
    """The ``spacy train`` overrides of a transfer run: a profile's [train] ``budget`` (if given) under
    the command line's ``overrides`` (its ``min_epochs`` over their ``paths.train``), and ``paths.encoder``
    the encoder the target starts from (:func:`prepare_encoder`; a ValueError or OSError says why there is none)."""
    if budget is not None:
        train = overrides.get("paths.train")
        if train is None and budget.get("min_epochs"):
            raise ValueError("the profile's budget has min_epochs, counted over the training set: give --paths.train")
        overrides = {**training_overrides(budget, seed, None if train is None else count_documents(train)), **overrides}
    return {**overrides, "paths.encoder": str(prepare_encoder(source, output, echo=echo))}
