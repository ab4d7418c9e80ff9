"""Workflow profiles (``configs/profiles/*.cfg``): the encoder, MLM and training budgets of a run.

``cpu`` fits a 2-core CPU, ``paper`` is the paper's GPU setting, ``smoke`` runs in minutes.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from thinc.api import Config

from .mlm import MLMSettings

BOOTSTRAP = "bootstrap"


@dataclass
class Profile:
    name: str
    encoder: Dict[str, Any]
    mlm: MLMSettings
    train: Dict[str, Any]

    def base_model(self, lang: str, override: Optional[str] = None) -> str:
        """``override`` (a project var) wins; a per-language table picks the language's model."""
        if override:
            return override
        base = self.encoder["base_model"]
        if isinstance(base, dict):
            if lang not in base:
                raise ValueError(f"profile {self.name} names no base model for language {lang!r} "
                                 f"(it has {sorted(base)}); set the project var base_model")
            return base[lang]
        return base


def load_profile(path: Path, seed: int = 0) -> Profile:
    path = Path(path)
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.cfg")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"No profile {path}; profiles there: {known}")
    cfg = Config().from_disk(path)
    mlm = dict(cfg.get("mlm", {}))
    train = dict(cfg["train"])
    averages = train.get("use_averages", False)
    if not isinstance(averages, bool):  # a quoted "false" would otherwise turn averaging on
        raise ValueError(f"{path}: [train] use_averages must be true or false, not {averages!r}")
    return Profile(path.stem, dict(cfg["encoder"]), MLMSettings(**{"seed": seed, **mlm}), train)
