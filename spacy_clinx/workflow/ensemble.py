"""The ensemble step (paper 3.3): one pipeline whose ``clinx_ensemble`` votes over the split models."""
from pathlib import Path
from typing import List, Union

import spacy
from spacy.util import load_config

from .train_splits import read_members


def build_ensemble(training: Union[str, Path], output: Union[str, Path], name: str = "clinx_ner",
                   version: str = "0.1.0") -> List[str]:
    """Save to ``output`` a pipeline voting over the members of ``training/members.json`` (saved
    inside it), with the members' language and tokenizer; returns the members."""
    members = read_members(Path(training))
    first = load_config(Path(members[0]) / "config.cfg")  # the members' language and tokenizer
    nlp = spacy.blank(first["nlp"]["lang"], config={"nlp": {"tokenizer": first["nlp"]["tokenizer"]}})
    nlp.add_pipe("clinx_ensemble", config={"members": members})
    nlp.initialize()
    nlp.meta.update({"name": name, "version": version, "description": f"CLIN-X ensemble of {len(members)} "
                     "clinx_ner models trained on random splits (majority vote per subword)"})
    nlp.to_disk(output)
    return members
