"""The ensemble step (paper 3.3): one pipeline whose ``clinx_ensemble`` votes over the split models."""
from pathlib import Path
from typing import List, Sequence, Union

import spacy
import srsly
from spacy.util import load_config

from ..components.clinx_ensemble import member_folder
from .train_splits import read_members_record


def build_ensemble(training: Union[str, Path], output: Union[str, Path], name: str = "clinx_ner",
                   version: str = "0.1.0") -> List[str]:
    """Save to ``output`` a pipeline voting over the members of ``training/members.json`` (saved
    inside it), with the members' language and tokenizer; returns the members. Its meta.json keeps
    the members' fingerprints, so that the steps depending on it rerun when a member was retrained."""
    record = read_members_record(Path(training))
    members = record["members"]
    first = load_config(Path(members[0]) / "config.cfg")  # the members' language and tokenizer
    nlp = spacy.blank(first["nlp"]["lang"], config={"nlp": {"tokenizer": first["nlp"]["tokenizer"]}})
    nlp.add_pipe("clinx_ensemble", config={"members": members})
    nlp.initialize()
    nlp.meta.update({"name": name, "version": version, "description": f"CLIN-X ensemble of {len(members)} "
                     "clinx_ner models trained on random splits (majority vote per subword)"})
    if "trained" in record:
        nlp.meta["clinx_members"] = record["trained"]
    nlp.to_disk(output)
    return members


def saved_members(ensemble: Union[str, Path]) -> List[Path]:
    """The member pipelines saved inside an ensemble pipeline's folder, in their order."""
    ensemble = Path(ensemble)
    config = load_config(ensemble / "config.cfg")
    names = [name for name, block in config["components"].items() if block.get("factory") == "clinx_ensemble"]
    if not names:
        raise ValueError(f"{ensemble}: no clinx_ensemble component")
    n = srsly.read_json(ensemble / names[0] / "cfg").get("n_members", 0)
    folders = [member_folder(ensemble / names[0], i) for i in range(n)]  # not a glob: a folder saved over keeps old ones
    if not folders or not all((f / "meta.json").exists() for f in folders):
        raise FileNotFoundError(f"{ensemble / names[0]}: its {n} saved members are not all there")
    return folders


def best_by_held_out(pipelines: Sequence[Union[str, Path]]) -> Path:
    """The pipeline with the highest score on its own held-out part (its meta.json's
    ``spans_char_f``, from training: never the test set); the first of equals."""
    scores = [(srsly.read_json(Path(p) / "meta.json").get("performance") or {}).get("spans_char_f", -1.0)
              for p in pipelines]
    return Path(pipelines[scores.index(max(scores))])
